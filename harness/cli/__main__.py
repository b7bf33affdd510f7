"""``python -m harness.cli``: the command line."""
from harness.cli.app import main

raise SystemExit(main())
