"""``python -m segmint``: the CLI."""

from segmint.cli.main import main

if __name__ == "__main__":
    main()
