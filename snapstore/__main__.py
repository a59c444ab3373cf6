"""``python -m snapstore``: the command line (the same as the ``snapstore`` script)."""

from snapstore.cli.main import main

if __name__ == "__main__":
    main()
