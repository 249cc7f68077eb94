"""ssgen-report: finished runs' results.json files as paper-style markdown tables, figures and the write-up page.

    ssgen-report m1 runs=outputs/m1_study/multirun/<date> out=outputs/results.md   # Table 1 (M1 heads x N)
    ssgen-report gan runs=outputs/gan/multirun/<date> out=outputs/gan_metrics.md   # FID / KID / class-consistency
    ssgen-report figures runs=outputs/gan/multirun/<date>                          # loss curves, samples (outputs/figures)
    ssgen-report m1 runs=<selection sweep> selection_figure=outputs/selection.png  # M2's alpha / epochs by held-out labels
    ssgen-report tune runs=outputs/m1_tune/multirun/<date>                         # a hyper-parameter search
    ssgen-report writeup runs=outputs/writeup/quick/records out=outputs/writeup.md # the write-up page

The first word names what to make (``m1`` when it is left out); the rest are ``key=value`` (``ssgen.cli``). One
policy for every table and figure (``ssgen.run.results.find_results``): a run is a dir holding results.json
(restart_<k> attempts belong to their run and are skipped); an unreadable results.json is a failed run; only
``status: ok`` runs enter a table, and failed and unfinished (running, interrupted or killed) ones are listed under
it with their status and overrides, never silently dropped. Nothing is written unless ``out=`` says where (the
figures and the write-up page have defaults under outputs/ and the records dir), and never over a record the report
reads (``record_files``: the same file under any spelling is refused in one line).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ssgen.cli import Legacy, argument, help_text, parse, run_console_script
from ssgen.errors import ConfigError, print_output
from ssgen.io import add_inputs, check_output, display_path

RUNS_HELP = "sweep dirs or run dirs holding results.json files ([a,b] or a,b for several)"


@dataclass
class TableArguments:
    """``ssgen-report m1`` / ``gan``: a table of the runs under ``runs``."""

    runs: list[str] = argument(help=RUNS_HELP, hint="<sweep dir>", path=True)
    out: str | None = argument(None, help="markdown file to write (default: print only)", path=True)
    selection_figure: str | None = argument(None, help="m1: also draw the selection runs' held-out accuracy (PNG)", path=True)


@dataclass
class TuneArguments:
    """``ssgen-report tune``: the trials of one search."""

    runs: str = argument(help="the search's sweep dir (experiment=m1_tune / gan_tune)", hint="<sweep dir>", path=True)
    out: str | None = argument(None, help="markdown file to write (default: print only)", path=True)


@dataclass
class FiguresArguments:
    """``ssgen-report figures``: a GAN sweep's figures."""

    runs: str = argument(help="the sweep dir holding the GAN runs (or their records)", hint="<sweep dir>", path=True)
    out: str = argument("outputs/figures", help="folder for the PNGs", path=True)
    smoothing: float = argument(0.9, help="EMA weight of the loss curves, in [0, 1) (TensorBoard's smoothing)")
    seed: int = argument(0, help="noise seed of the generated images")
    labels: str = argument("pullover,ankle_boot", help="classes of the real-vs-generated figure (names or indices)")


@dataclass
class WriteupArguments:
    """``ssgen-report writeup``: the write-up page from a study's records."""

    runs: str = argument(help="the records dir of ssgen-study writeup (<dir>/records)", hint="<records dir>", path=True)
    out: str | None = argument(None, help="the page (default outputs/pages/writeup.md); its figures go in <out stem>/", path=True)


COMMANDS = {"m1": TableArguments, "gan": TableArguments, "tune": TuneArguments, "figures": FiguresArguments,
            "writeup": WriteupArguments}
# 0.1's argparse spellings, for one release: positional paths, --out, --selection-figure, --smoothing, ...
LEGACY = Legacy(options={"--out": "out", "--selection-figure": "selection_figure", "--smoothing": "smoothing",
                         "--seed": "seed", "--labels": "labels"}, positional="runs")
HELP = help_text(
    "ssgen-report", "Turn finished runs into markdown tables, figures and the write-up page. The first word says "
    "what: m1 (Table 1: M1's heads by N; the default), gan (FID / KID / class-consistency by method and "
    "architecture), tune (a search's trials), figures (GAN loss curves and samples), writeup (the write-up page "
    "from ssgen-study's records).", TableArguments,
    ["ssgen-report m1 runs=outputs/m1_study/multirun/<date> out=outputs/results.md",
     "ssgen-report gan runs=outputs/gan/multirun/<date>",
     "ssgen-report writeup runs=outputs/writeup/quick/records out=outputs/writeup.md"],
    docs="docs/results.md, docs/gan_metrics.md and docs/writeup.md",
    usage="usage: ssgen-report [m1|gan|tune|figures|writeup] runs=<dir> [out=<file>] [key=value ...]\n"
          "  figures: out=<folder> (default outputs/figures) smoothing=0.9 seed=0 labels=pullover,ankle_boot\n"
          "  m1: selection_figure=<png>")


# what a report writes (pages, figures): files of these kinds under runs= are its own earlier outputs, not records
REPORT_OUTPUTS = (".md", ".png")


def record_files(runs: list[str]) -> list[Path]:
    """Every file under the ``runs`` dirs that a report may read (results.json, overrides, curves, samples, event
    files, checkpoints, study.json ...): all but the pages and figures a report writes (``REPORT_OUTPUTS``)."""
    files = []
    for root in map(Path, runs):
        found = [root] if root.is_file() else (path for path in root.rglob("*") if path.is_file())
        files += [path for path in found if path.suffix.lower() not in REPORT_OUTPUTS]
    return files


def report(argv: list[str]) -> None:
    """The table, figures or page the first word asks for (``m1`` when it is none of them), from ``key=value``s."""
    first = argv[0] if argv else ""
    if first and first not in COMMANDS and "=" not in first and not first.startswith("-") and not Path(first).exists():
        import difflib

        close = difflib.get_close_matches(first, list(COMMANDS), n=1, cutoff=0.5)
        raise ConfigError(f"{first} is neither a report ({', '.join(COMMANDS)}) nor a dir of runs"
                          + (f"; did you mean `ssgen-report {close[0]}`?" if close else "; see --help"))
    command = argv[0] if argv and argv[0] in COMMANDS else "m1"
    rest = argv[1:] if argv and argv[0] in COMMANDS else argv
    args = parse(rest, COMMANDS[command], f"ssgen-report {command}", LEGACY)
    runs = args.runs if isinstance(args.runs, list) else [args.runs]
    add_inputs(record_files(runs), f"a record under runs={','.join(map(display_path, runs))}")
    if command != "figures" and args.out:  # figures' out= is a folder of PNGs, which no record is
        check_output(args.out, "out")
    if getattr(args, "selection_figure", None):
        check_output(args.selection_figure, "selection_figure")
    if command == "writeup":
        from ssgen.reporting.writeup import (  # the study plan and, to draw, matplotlib and torch
            WRITEUP_PAGE,
            write_writeup,
        )

        write_writeup(args.runs, args.out)
        out = Path(args.out) if args.out else WRITEUP_PAGE
        print_output(f"wrote {out} and its figures in {out.parent / out.stem}/")
    elif command == "figures":
        from ssgen.data import CLASS_NAMES, parse_labels
        from ssgen.reporting.figures import make_figures  # matplotlib and torch, which the tables do not need

        if not 0 <= args.smoothing < 1:
            raise ConfigError(f"smoothing={args.smoothing} must lie in [0, 1)")
        labels = tuple(CLASS_NAMES[index] for index in parse_labels(args.labels))
        for path in make_figures(args.runs, args.out, args.smoothing, args.seed, labels):
            print_output(f"wrote {path}")
    elif command == "tune":
        from ssgen.reporting.tables import write_tune_report

        print_output(write_tune_report(args.runs, args.out))
    elif command == "gan":
        from ssgen.reporting.tables import write_gan_report

        if args.selection_figure:
            raise ConfigError("selection_figure= draws M2's selection runs; use it with ssgen-report m1")
        print_output(write_gan_report(args.runs, args.out))
    else:
        from ssgen.reporting.tables import write_m1_report

        print_output(write_m1_report(args.runs, args.out))
        if args.selection_figure:
            from ssgen.reporting.figures import selection_figure
            from ssgen.run.results import find_results

            print_output(f"selection curves: {selection_figure(find_results(args.runs), args.selection_figure)}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``ssgen-report``: errors are one line on stderr and exit status 2."""
    run_console_script("ssgen-report", HELP, argv, report)


if __name__ == "__main__":
    main()
