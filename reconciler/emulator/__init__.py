"""Local HTTP emulator of the Vertex AI tuning API and the Gemini API tunedModels API, plus a strict subset of
the Cloud Storage JSON API (buckets, object upload/download/list/delete with generation preconditions).

Imports nothing from the rest of `reconciler` (stdlib only). Embed it with `Emulator`, or run
`python -m reconciler.emulator` / `reconciler emulator`.
"""

from .app import Emulator

__all__ = ["Emulator"]
