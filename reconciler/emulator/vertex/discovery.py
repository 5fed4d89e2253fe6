"""Request specs (see `schema.py`) built from vendored discovery-document subsets, so that validation accepts
exactly the fields Google publishes: `aiplatform.{v1,v1beta1}.tuning-job.json` beside this file hold the
`TuningJob` schema of each version and every schema it references (revision in their `source`; regenerate
them with scripts/vendor_tuning_job_schemas.py)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..schema import ANY, LIST, MAP, MAPOF, OUT, VALUE, Enum

HERE = Path(__file__).resolve().parent
_SCALARS = {("string", "int64"): "int64", ("string", "uint64"): "int64", ("integer", "int32"): "int32",
            ("integer", "uint32"): "int32", ("integer", None): "int32", ("number", "double"): "double",
            ("number", "float"): "double", ("number", None): "double", ("boolean", None): "bool"}


@lru_cache(maxsize=None)
def vendored(version: str) -> dict[str, Any]:
    """The vendored subset of one API version: {"source", "root", "schemas"}."""
    return json.loads((HERE / f"aiplatform.{version}.tuning-job.json").read_text())


def message_spec(schemas: dict[str, Any], name: str, enums: dict[tuple[str, ...], Enum],
                 built: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The spec of the message `name`; read-only fields become OUT. Recursive schemas share one dict.
    `enums` gives the numbers of enums whose proto numbers are not their order (by their tuple of names)."""
    built = {} if built is None else built
    if name in built:
        return built[name]
    spec: dict[str, Any] = {}
    built[name] = spec
    short = re.sub(r"^GoogleCloudAiplatformV1(beta1)?", "", name)
    for field, node in schemas[name]["properties"].items():
        spec[field] = OUT if node.get("readOnly") else _node(schemas, node, f"{short}.{field}", enums, built)
    return spec


def _node(schemas: dict[str, Any], node: dict[str, Any], where: str, enums: dict[tuple[str, ...], Enum],
          built: dict[str, dict[str, Any]]) -> Any:
    if "$ref" in node:
        return message_spec(schemas, node["$ref"], enums, built)
    kind = node.get("type")
    if kind == "array":
        return LIST(_node(schemas, node["items"], where, enums, built))
    if kind == "object":
        extra = node.get("additionalProperties")
        if extra is None:
            return ANY
        if extra.get("type") == "string" and "enum" not in extra:
            return MAP
        return MAPOF(_node(schemas, extra, where, enums, built))
    if kind == "any":
        return VALUE
    if kind == "string" and "enum" in node:
        # Discovery lists enum names in declaration order, which is the number order for most enums; the
        # exceptions a client may send as numbers are passed in `enums`.
        names = tuple(node["enum"])
        return enums.get(names) or Enum(where, {value: i for i, value in enumerate(names)})
    return _SCALARS.get((kind, node.get("format")), "string")
