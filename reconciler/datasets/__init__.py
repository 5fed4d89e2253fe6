"""Training and validation datasets, checked before a paid tuning job reads them: streamed, in bounded memory,
every problem located `file:line:col` (`vertex_jsonl`), from a local file or from Cloud Storage (`remote`)."""
