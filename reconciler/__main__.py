from reconciler.cli.main import run

raise SystemExit(run())
