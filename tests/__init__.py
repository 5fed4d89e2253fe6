"""The reconciler test suite (a package so that tests.testing, the shared helpers, is importable)."""
