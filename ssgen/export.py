"""ssgen-export: a run's checkpoint without its optimizer state, a third of the size, to carry or to share.

    ssgen-export run=outputs/m1/<run> out=m1_seed0.ckpt          # then: ssgen-train method=m1_m2 method.m1_checkpoint=m1_seed0.ckpt
    ssgen-export run=<run dir>/checkpoints/last.ckpt out=last_weights.ckpt

The copy loads everywhere a checkpoint does (ssgen-generate, ssgen-evaluate, ssgen-predict, ``ssgen.load``, M1+M2's
``method.m1_checkpoint``) but cannot resume training (``ssgen.models.checkpoints.save_model_only``). Errors are one
line on stderr and exit status 2, with nothing written.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ssgen.cli import argument, help_text, parse, run_console_script
from ssgen.io import display_path
from ssgen.models.checkpoints import save_model_only


@dataclass
class ExportArguments:
    """ssgen-export's arguments (``ssgen.cli.parse``)."""

    run: str = argument(help="a run dir (checkpoints/best.ckpt, else last.ckpt) or a .ckpt file", hint="<run dir>", path=True)
    out: str = argument(help="the weights-only copy to write", hint="<out.ckpt>", path=True)


HELP = help_text("ssgen-export", "Copy a run's checkpoint without its optimizer state (a third of the size): it loads "
                 "for inference and as M1+M2's method.m1_checkpoint, but cannot resume training.", ExportArguments,
                 ["ssgen-export run=outputs/m1/<run> out=m1_seed0.ckpt",
                  "ssgen-export run=<run dir>/checkpoints/last.ckpt out=last_weights.ckpt",
                  "ssgen-train method=m1_m2 method.m1_checkpoint=m1_seed0.ckpt      # uses the copy"],
                 docs="docs/m2.md")


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``ssgen-export``: ``save_model_only``; errors are one line, exit 2."""
    def copy(argv: list[str]) -> None:
        words = [word for word in argv if "=" not in word and not word.startswith("-")]
        if len(words) == 2 and len(argv) == 2:  # 0.1's `python -m ssgen.checkpoints SRC DST`, for one release
            print(f"ssgen-export: warning: `{' '.join(words)}` is deprecated and goes in the next release; write "
                  f"`run={words[0]} out={words[1]}`", file=sys.stderr)
            argv = [f"run={words[0]}", f"out={words[1]}"]
        args = parse(argv, ExportArguments, "ssgen-export")
        print(display_path(save_model_only(args.run, args.out)))

    run_console_script("ssgen-export", HELP, argv, copy)


if __name__ == "__main__":
    main()
