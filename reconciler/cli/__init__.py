"""The command line: `main` parses, runs one command, and decides the exit code; one file per command."""

from reconciler.cli.main import main

__all__ = ["main"]
