"""``python -m tools.backup.cli ...``: the seed's command line, served by snapstore's CLI."""

from snapstore.cli.main import main

if __name__ == "__main__":
    main()
