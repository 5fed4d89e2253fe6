"""A Vertex AI supervised-tuning dataset (Gemini JSONL), checked as it streams by: every row (`contents`), the
documented limits, and credentials, each problem located `file:line:col`; its SHA-256, size, rows and characters
summed on the way. Memory stays bounded whatever the file's size: one line at a time, never the whole file.

Limits (the Vertex AI guide and API reference; the project's reference notes in shared/reference):
- a training file of at most 1 GB of JSONL;
- a validation dataset of at most 256 examples (the API reference; the newer Gemini 2.5 guide says 5000, but
  the reference wins until the service proves it wrong: a reconciler should not start a paid job on a guess);
- 100-500 examples recommended as a minimum: fewer is a warning, as for Gemini API examples;
- at most 1M text examples in a training dataset (the Gemini 2.5 guide).
The guide sets no byte limit on one row; 16 MiB is ours. Text rows are bounded far below it by the per-example
token limit (131,072 tokens, a few hundred KB of text); the cap only keeps a row without newlines from filling
memory.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reconciler.datasets.contents import Located, Problem, RowError, check_row
from reconciler.datasets.lines import Line, Meter, lines
from reconciler.manifest.diagnostics import (MAX_ROW_ERRORS, RECOMMENDED_EXAMPLES, Diagnostics, few_examples,
                                             holds_secret, more_invalid)

GB = 1000 ** 3
MIB = 1024 * 1024
MAX_FILE_BYTES = GB
MAX_ROW_BYTES = 16 * MIB
MAX_VALIDATION_EXAMPLES = 256
MAX_TRAINING_EXAMPLES = 1_000_000
CHUNK_BYTES = MIB


@dataclass(frozen=True)
class DataSummary:
    """What was read: sha256 (hex) and size of the exact bytes, rows (non-blank lines, valid or not), the
    characters of every text part (contents and systemInstruction, for a token estimate) and the invalid rows."""

    sha256: str
    size: int
    rows: int
    characters: int
    invalid: int = 0


def check_stream(chunks: Iterable[bytes], shown: str, diagnostics: Diagnostics, *, validation: bool = False,
                 max_bytes: int = MAX_FILE_BYTES) -> DataSummary:
    """Check the dataset that `chunks` carry, adding located diagnostics for `shown` (the path or URI printed).
    Errors mean the dataset is invalid; the summary is returned either way (a size over `max_bytes` stops the
    reading there: then sha256 and size are those of the bytes read)."""
    meter = Meter(chunks, max_bytes)
    tally = _Tally(shown, diagnostics, validation)
    for line in lines(meter, MAX_ROW_BYTES):
        if meter.over:
            break  # the end of the bytes read, cut anywhere: not a row
        tally.line(line)
    if meter.over:
        what = "a validation" if validation else "a training"
        diagnostics.add(shown, 0, 0, f"more than {readable_size(max_bytes)}: Vertex AI accepts {what} dataset of at most "
                        f"{readable_size(MAX_FILE_BYTES)} of JSONL; stopped reading after {meter.size} bytes")
    else:
        tally.finish()
    return DataSummary(meter.sha256, meter.size, tally.rows, tally.characters, tally.invalid)


def check_file(path: Path, shown: str, diagnostics: Diagnostics, *, validation: bool = False) -> DataSummary:
    try:
        with open(path, "rb") as file:
            return check_stream(iter(lambda: file.read(CHUNK_BYTES), b""), shown, diagnostics,
                                validation=validation)
    except OSError as err:
        diagnostics.add(shown, 0, 0, f"cannot read the dataset: {err.strerror or err}")
        return DataSummary(hashlib.sha256().hexdigest(), 0, 0, 0)


def row_digests(chunks: Iterable[bytes]) -> Counter[str]:
    """How many times each row occurs, by a 16-hex-digit SHA-256 prefix of its canonical JSON (keys sorted, no
    spaces; a line that is not JSON by its own bytes): two versions of a file compare as "+12 rows, -3 rows"."""
    counts: Counter[str] = Counter()
    for line in lines(chunks, MAX_ROW_BYTES):
        if line.data.strip():
            counts[_digest(line.data)] += 1
    return counts


def _digest(data: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        data = canonical.encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError):
        data = data.strip()
    return hashlib.sha256(data).hexdigest()[:16]


class _Tally:
    """The rows seen so far, and what to say about them."""

    def __init__(self, shown: str, diagnostics: Diagnostics, validation: bool):
        self.shown, self.diagnostics, self.validation = shown, diagnostics, validation
        self.rows = self.characters = self.invalid = 0
        self.limit = MAX_VALIDATION_EXAMPLES if validation else MAX_TRAINING_EXAMPLES
        self.unseen_secrets = list(diagnostics.secrets)

    def line(self, line: Line) -> None:
        if not line.overlong and not line.data.strip():
            return
        self.rows += 1
        if self.rows == self.limit + 1:
            kind = "validation" if self.validation else "training"
            self.diagnostics.add(self.shown, line.number, 1, f"row {line.number}: more than {self.limit} examples; "
                                 f"Vertex AI accepts at most {self.limit} in a {kind} dataset")
        problem = self._problem(line)
        if problem is None:
            return
        self.invalid += 1
        if self.invalid <= MAX_ROW_ERRORS:
            self.diagnostics.add(self.shown, line.number, problem.col, f"row {line.number}: {problem.message}")

    def _problem(self, line: Line) -> Problem | None:
        if line.overlong:
            return Problem(f"longer than {readable_size(MAX_ROW_BYTES)}; a row is one example, and examples are "
                           "limited in tokens (131,072 for Gemini 2.5): split it, or check the line breaks")
        try:
            text = line.data.decode("utf-8")
        except UnicodeDecodeError as err:
            column = len(line.data[:err.start].decode("utf-8", "replace")) + 1
            return Problem(f"not UTF-8 (byte 0x{line.data[err.start]:02x}); save the file as UTF-8", column)
        if self.unseen_secrets and self._holds_secret(text, line.number):
            return None  # reported once per credential, and never parsed, so that no message quotes the row
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            return Problem(f"invalid JSON: {err.msg}", err.colno)
        except (ValueError, RecursionError):
            return Problem("invalid JSON")
        try:
            self.characters += check_row(row, Located(text))
        except RowError as err:
            return err.problem
        return None

    def _holds_secret(self, text: str, number: int) -> bool:
        found = False
        for name, secret in list(self.unseen_secrets):
            position = text.find(secret)
            if position >= 0:
                found = True
                self.unseen_secrets.remove((name, secret))
                self.diagnostics.add(self.shown, number, position + 1, holds_secret(f"row {number}", name))
        return found

    def finish(self) -> None:
        if self.invalid > MAX_ROW_ERRORS:
            self.diagnostics.add(self.shown, 0, 0, more_invalid(self.invalid))
        if self.rows == 0:
            self.diagnostics.add(self.shown, 0, 0, "the dataset holds no examples")
        elif not self.validation and self.rows < RECOMMENDED_EXAMPLES:
            self.diagnostics.add(self.shown, 0, 0, few_examples(self.rows), "warning")


def readable_size(count: int) -> str:
    return f"{count / GB:g} GB" if count >= GB else f"{count / MIB:g} MiB" if count >= MIB else f"{count} bytes"


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    """`data` in chunks of `size` bytes (tests and callers holding bytes already)."""
    for start in range(0, len(data), size):
        yield data[start:start + size]
