"""Regenerate reconciler/emulator/vertex/aiplatform.{v1,v1beta1}.tuning-job.json: the `TuningJob` schema of
the published aiplatform discovery documents and every schema it references, trimmed to what request
validation needs (types, formats, enums, references, readOnly; no descriptions).

    python scripts/vendor_tuning_job_schemas.py [DISCOVERY_DIR]

Default input: the documents google-api-python-client ships (googleapiclient/discovery_cache/documents)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

KEEP = ("type", "format", "enum", "$ref", "items", "additionalProperties", "readOnly")
OUT = Path(__file__).resolve().parents[1] / "reconciler/emulator/vertex"


def _default_source() -> Path:
    import googleapiclient

    return Path(googleapiclient.__file__).parent / "discovery_cache/documents"


def _trim(node: dict) -> dict:
    kept = {k: node[k] for k in KEEP if k in node}
    for key in ("items", "additionalProperties"):
        if isinstance(kept.get(key), dict):
            kept[key] = _trim(kept[key])
    return kept


def vendor(source: Path, version: str) -> None:
    document = json.loads((source / f"aiplatform.{version}.json").read_text())
    schemas = document["schemas"]
    root = f"GoogleCloudAiplatform{version.capitalize()}TuningJob"
    wanted: dict[str, dict] = {}
    pending = [root]
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        node = schemas[name]
        wanted[name] = {"properties": {k: _trim(v) for k, v in node.get("properties", {}).items()},
                        "type": node.get("type", "object")}
        text = json.dumps(node)
        pending += [ref for ref in schemas if f'"$ref": "{ref}"' in text]
    subset = {"source": f"aiplatform {document['version']} discovery document, revision {document['revision']}",
              "root": root, "schemas": dict(sorted(wanted.items()))}
    out = OUT / f"aiplatform.{version}.tuning-job.json"
    out.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
    print(f"{out}: {len(wanted)} schemas")


if __name__ == "__main__":
    for api_version in ("v1", "v1beta1"):
        vendor(Path(sys.argv[1]) if len(sys.argv) > 1 else _default_source(), api_version)
