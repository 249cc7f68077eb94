"""Collect a sweep's results.json files (read through ``ssgen.run.results``) into paper-style markdown tables and figures.

    ssgen-report outputs/m1_study/multirun/<date> --out docs/results.md        # Table 1 (M1 heads x N)
    ssgen-report gan outputs/gan/multirun/<date> --out docs/gan_metrics.md     # FID/KID table (metrics)
    ssgen-report figures outputs/gan/multirun/<date> --out docs/figures        # loss curves, samples
    ssgen-report <selection sweep> --selection-figure docs/figures/selection.png   # M2 alpha/epochs by held-out labels
    ssgen-report writeup docs/records/writeup --out docs/writeup.md            # the write-up page (ssgen.reporting.writeup)

One policy for every table and figure (``ssgen.run.results.find_results``): a run is a dir holding results.json (restart_<k>
attempts belong to their run and are skipped); an unreadable results.json is a failed run; only ``status: ok``
runs enter a table, and failed and unfinished (running, interrupted or killed) ones are listed under it with
their status and overrides, never silently dropped.
"""

from __future__ import annotations

import argparse

from ssgen.cli import run_console_script
from ssgen.errors import print_output
from ssgen.reporting.figures import selection_figure
from ssgen.reporting.tables import write_gan_report, write_m1_report, write_tune_report
from ssgen.run.results import find_results

USAGE = """usage: ssgen-report [m1] PATH... [--out MD] [--selection-figure PNG]   Table 1 and M2 selection
       ssgen-report gan PATH... [--out MD]                                   the GAN metrics table
       ssgen-report tune SWEEP [--out MD]                                    a hyper-parameter search
       ssgen-report figures SWEEP [--out DIR] [--smoothing W] [--seed S] [--labels L,L]   GAN curves and samples
       ssgen-report writeup RECORDS [--out MD]                               the write-up page (ssgen-study writeup)"""


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"ssgen-report {command}".strip(), description=__doc__.split("\n\n")[0])
    if command == "tune":
        parser.add_argument("sweep_dir", help="the search's sweep dir (experiment=m1_tune / gan_tune)")
        parser.add_argument("--out", help="markdown file to write")
        return parser
    parser.add_argument("paths", nargs="+", help="sweep dirs or run dirs holding results.json files")
    parser.add_argument("--out", help="markdown file to write (e.g. docs/results.md)")
    if command != "gan":
        parser.add_argument("--selection-figure", metavar="PNG",
                            help="also draw the selection runs' held-out accuracy curves (data.labelled_holdout) here")
    return parser


def report(argv: list[str]) -> None:
    """Parse once, then the table or figures the first word asks for (``m1`` when it is a path)."""
    command = argv[0] if argv and argv[0] in ("m1", "gan", "figures", "tune", "writeup") else ""
    if command == "writeup":
        from ssgen.reporting.writeup import writeup_command

        writeup_command(argv[1:])
        return
    if command == "figures":
        # imported here: figures loads matplotlib and torch, which the tables do not need
        from ssgen.reporting.figures import figures_command

        figures_command(argv[1:])
        return
    args = _parser(command).parse_args(argv[1:] if command else argv)
    if command == "gan":
        print_output(write_gan_report(args.paths, args.out))
    elif command == "tune":
        print_output(write_tune_report(args.sweep_dir, args.out))
    else:
        print_output(write_m1_report(args.paths, args.out))
        if args.selection_figure:
            print_output(f"selection curves: {selection_figure(find_results(args.paths), args.selection_figure)}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``ssgen-report``: errors are one line on stderr and exit status 2."""
    run_console_script("ssgen-report", USAGE, argv, report)


if __name__ == "__main__":
    main()
