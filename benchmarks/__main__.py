"""``python -m benchmarks [models=...] [out=FILE]``: see the ``benchmarks`` package docstring or ``--help``."""

from benchmarks.cli import main

if __name__ == "__main__":
    main()
