"""Allow ``python -m mixwise`` as an alias for the ``mixwise`` command."""

from mixwise.cli import main

if __name__ == "__main__":
    main()
