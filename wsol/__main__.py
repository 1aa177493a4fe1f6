"""``python -m wsol`` is the ``wsol`` command."""
from wsol.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
