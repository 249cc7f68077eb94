"""``python -m ssgen.bench [--models ...] [--out FILE]``: see the ``ssgen.bench`` package docstring or ``--help``."""

from ssgen.bench.cli import main

if __name__ == "__main__":
    main()
