"""The JSON Schema of the plan document (`plan --json`, `plan --out`), committed as package data beside this
module: what a policy engine may rely on. `reconciler schema --plan` prints it; the render tests validate every
plan they render against it."""

from __future__ import annotations

import json
from importlib import resources

SCHEMA_FILE = "plan.schema.json"


def plan_schema() -> dict:
    return json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
