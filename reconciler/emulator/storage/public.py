"""The public sample datasets Google's tuning guides train on, readable by anyone and writable by no one, as
`gs://cloud-samples-data` is: a manifest copied from the guides plans and applies against the emulator, and
its data can be read (metadata, media) like any object. The rows are the emulator's own, in the documented
Vertex format; their generation never changes."""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from .checksums import crc32c_b64, md5_b64

BUCKET = "cloud-samples-data"
FOLDERS = ("ai-platform/generative_ai/gemini/text", "ai-platform/generative_ai/gemini-1_5/text",
           "ai-platform/generative_ai")
CREATED = 1_717_200_000.0  # 2024-06-01: the samples predate every job the emulator runs
TOPICS = ("the water cycle", "photosynthesis", "plate tectonics", "the French revolution", "compound interest",
          "binary search", "the immune system", "supply and demand", "black holes", "the printing press")


def _rows(count: int, offset: int) -> bytes:
    rows = []
    for i in range(count):
        topic = TOPICS[(i + offset) % len(TOPICS)]
        rows.append({"systemInstruction": {"role": "system", "parts": [{"text": "Answer in two sentences."}]},
                     "contents": [{"role": "user", "parts": [{"text": f"Question {i + offset}: explain {topic}."}]},
                                  {"role": "model", "parts": [{"text": f"{topic.capitalize()} is a classic topic. "
                                                                       f"Here is the short answer number {i}."}]}]})
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


@cache
def objects() -> dict[str, dict[str, Any]]:
    """"bucket/name" -> object record, as the store keeps records."""
    found = {}
    for n, folder in enumerate(FOLDERS):
        for kind, count, offset in (("train", 500, 0), ("validation", 100, 500)):
            name = f"{folder}/sft_{kind}_data.jsonl"
            data = _rows(count, offset)
            found[f"{BUCKET}/{name}"] = {
                "bucket": BUCKET, "name": name, "generation": int(CREATED * 1_000_000) + n * 2 + (kind == "validation"),
                "metageneration": 1, "size": len(data), "crc32c": crc32c_b64(data), "md5Hash": md5_b64(data),
                "contentType": "application/jsonl", "storageClass": "STANDARD", "metadata": {},
                "timeCreated": CREATED, "updated": CREATED, "media": base64.b64encode(data).decode("ascii")}
    return found
