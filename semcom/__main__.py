"""``python -m semcom`` runs the command-line interface."""

from semcom.cli import main

raise SystemExit(main())
