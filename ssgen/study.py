"""ssgen-study: the CS5787 write-up's whole study in one resumable command (Q1, Q4 M1 and M1+M2, Q5 GANs).

    ssgen-study writeup budget=quick                 # every part reduced, 1 seed (what it took: docs/writeup.md)
    ssgen-study writeup budget=full                  # the write-up's budget, 3 seeds, every part trained
    ssgen-study writeup budget=full reuse_committed=true   # the GANs from the committed records (hours saved)
    ssgen-study writeup budget=quick dry_run=true    # what each part runs, what is done, what is next
    ssgen-study writeup budget=quick config_dir=myconf m1:experiment=mine   # your own configs (ssgen-train's --config-dir)
    ssgen-study writeup budget=full parts=m1,m1_m2 torch_threads=1 gan:trainer.precision=32-true
    ssgen-report writeup runs=outputs/writeup/quick/records out=docs/writeup.md

Each part but Q1 is one Hydra multirun of ``ssgen-train`` (so composition, overrides and launchers apply) into a
fixed sweep dir, ``<dir>/<part>``, with job dirs named by what they vary (``seed0``, ``n100_seed0``,
``wgan_gp_dcgan_softplus_seed0``). Relaunching the same command launches only the jobs that have not ended (``ok``,
or ``failed`` after training, e.g. a failed convergence): a finished job is not touched, an interrupted or killed one
resumes from its last.ckpt (ssgen-train's run lifecycle, ssgen.run.lifecycle), a crashed one runs again. A job the sweep dir
does not hold but ``records=`` does counts as ended, so the committed page's command retrains nothing. After each part, every ended job is copied as a small record (ssgen.reporting.records:
results.json, curves.csv, samples) into ``records=`` (default ``<dir>/records``), with ``study.json`` saying the
budget; ``ssgen-report writeup runs=<records>`` renders the page from these alone.

Overrides after the options go to every ssgen-train part; ``<part>:key=value`` to one part only (``m1:``,
``m1_m2:``, ``gan:``). Budgets (``BUDGETS``) only shrink or grow how long things train: the M1 recipe is whatever
``ssgen-train`` does by default, the GANs are ``experiment=gan`` (10 epochs, restarts on), M1+M2 is
``experiment=m2_study method=m1_m2`` on the M1 run of the same seed. With ``reuse_committed=true`` (full budget only)
a GAN job counts as ended when ``docs/records/gan_study/<job>`` holds its record (tools/gan_study.py made those at
exactly this budget), so the study does not retrain hours of GANs, and the page says which runs were reused. On a GPU, several jobs share the device with the joblib launcher:
``ssgen-study writeup budget=full trainer.accelerator=gpu hydra/launcher=joblib_local hydra.launcher.n_jobs=4``.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, fields

from ssgen.cli import Legacy, argument, help_text, parse, run_console_script
from ssgen.errors import ConfigError
from ssgen.reporting.study import BUDGETS, PARTS, Study, part_prefix


@dataclass
class StudyArguments:
    """ssgen-study's own arguments (``ssgen.cli.parse``); every other ``key=value`` goes to ssgen-train."""

    budget: str = argument("quick", help="how long things train", choices=tuple(BUDGETS))
    dir: str | None = argument(None, help="where the runs go (default outputs/writeup/<budget>)", path=True)
    records: str | None = argument(None, help="where the records go (default <dir>/records)", path=True)
    parts: list[str] = argument(list(PARTS), help="the parts to run, in the study's order")
    dry_run: bool = argument(False, help="print what each part would run; run nothing")
    config_dir: str | None = argument(None, help="a directory of your own Hydra configs (config groups beside conf/'s), "
                                      "given to every ssgen-train part as --config-dir", path=True)
    reuse_committed: bool = argument(False, help="let the committed GAN study records (docs/records/gan_study, made "
                                     "at budget=full) stand for the GAN jobs instead of training them")


OWN_KEYS = tuple(spec.name for spec in fields(StudyArguments))
# ssgen-train's top-level keys and config groups: an override naming one of these goes to every part
TRAIN_KEYS = ("data", "method", "arch", "trainer", "logger", "callbacks", "experiment", "hydra", "seed", "label_budgets",
              "restarts", "ckpt_path", "run_dir", "task_name", "compile", "matmul_precision", "torch_threads")
LEGACY = Legacy(options={"--budget": "budget", "--dir": "dir", "--records": "records", "--parts": "parts"},
                switches={"--dry-run": "dry_run"},
                aliases={"--config-dir": "config_dir", "-cd": "config_dir"})  # ssgen-train's (Hydra's) spellings
HELP = help_text(
    "ssgen-study", "Run (or resume) the write-up's whole study: Q1, Q4's M1 and M1+M2, Q5's GANs, each part a Hydra "
    "multirun of ssgen-train, each ended job copied as a small record into records=. Any other key=value goes to "
    "every ssgen-train part; <part>:key=value to one part only (m1:, m1_m2:, gan:).", StudyArguments,
    ["ssgen-study writeup budget=quick",
     "ssgen-study writeup budget=full parts=m1,m1_m2 torch_threads=1 gan:trainer.precision=32-true",
     "ssgen-study writeup budget=quick dry_run=true"],
    docs="docs/writeup.md",
    usage="usage: ssgen-study writeup [budget=quick|full|debug] [dir=DIR] [records=DIR] [parts=q1,m1,m1_m2,gan] "
          "[dry_run=true] [reuse_committed=true] [config_dir=DIR] [OVERRIDE ...] [PART:OVERRIDE ...]")


def split_arguments(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the study's own ``key=value``s, the ssgen-train overrides). A key that is neither the study's nor one that
    ssgen-train has (a top-level key, a config group, ``<part>:``, ``+``/``~``) is refused with a did-you-mean."""
    own, overrides = [], []
    for word in argv:
        prefix, body = part_prefix(word)
        key = body.partition("=")[0].lstrip("+~")
        root = key.split(".")[0].split("/")[0]
        if prefix is None and key in OWN_KEYS:
            own.append(word)
        elif prefix is not None or root in TRAIN_KEYS or word.startswith(("+", "~")) or word.startswith("-"):
            overrides.append(word)
        else:
            close = difflib.get_close_matches(key, [*OWN_KEYS, *TRAIN_KEYS], n=1, cutoff=0.6)
            raise ConfigError(f"{key}= is neither one of ssgen-study's arguments ({', '.join(OWN_KEYS)}) nor a key of "
                              "ssgen-train's config" + (f"; did you mean {close[0]}=?" if close else "")
                              + " (see `ssgen-study --help`)")
    return own, overrides


# The study sets these per part: M1+M2 is method=m1_m2 on M1's run, and the GAN part sweeps method and arch
PART_AXES = {"method": ("m1",), "arch": ("m1", "m1_m2")}


def check_part_axes(overrides: list[str]) -> None:
    """Refuse (one line) an override of a choice the study makes for a part: ``method=`` anywhere but ``m1:``, and
    ``arch=`` unprefixed or for the GANs (Hydra would let the last value win, and the part would run another model
    than its page says)."""
    for word in overrides:
        prefix, body = part_prefix(word)
        key = body.partition("=")[0]
        if key in PART_AXES and prefix not in PART_AXES[key]:
            given = f"{prefix}:{key}=" if prefix else f"{key}="
            allowed = " or ".join(f"{part}:{key}=" for part in PART_AXES[key])
            raise ConfigError(f"{given} would replace the {key} the study runs in "
                              f"{'the GAN part (its sweep axis)' if prefix == 'gan' else 'its parts'}; "
                              f"choose one part's {key} with {allowed}")


def study_command(argv: list[str]) -> None:
    """``ssgen-study writeup ...`` (see the module docstring); exits 1 when jobs are left unfinished."""
    from ssgen.cli import translate_legacy

    if not argv or argv[0] != "writeup":
        raise ConfigError(f"ssgen-study runs one study, writeup: `ssgen-study writeup ...`, not "
                          f"`ssgen-study {' '.join(argv[:1])}` (see `ssgen-study --help`)")
    own, overrides = split_arguments(translate_legacy(argv[1:], LEGACY, "ssgen-study"))
    unknown = [word for word in overrides if word.startswith("-")]
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]}; arguments are key=value (or part:key=value), see --help")
    args = parse(own, StudyArguments, "ssgen-study")
    given = [part.strip() for part in args.parts if part.strip()]
    wrong = [part for part in given if part not in PARTS]
    if wrong:
        raise ConfigError(f"parts={wrong[0]} is unknown; choose from {','.join(PARTS)}")
    if not given:
        raise ConfigError(f"parts= names no part; give some of {','.join(PARTS)} (comma-separated)")
    selected = tuple(part for part in PARTS if part in given)  # in the study's order: M1+M2 needs M1 first
    prefixes = [prefix for prefix, _ in map(part_prefix, overrides) if prefix is not None]
    unknown_part = [prefix for prefix in prefixes if prefix not in PARTS and "." not in prefix and "/" not in prefix]
    if unknown_part:
        raise ConfigError(f"{unknown_part[0]}:... names no part; a part's own override is <part>:key=value with "
                          f"<part> one of {', '.join(PARTS[1:])}")
    check_part_axes(overrides)
    if args.config_dir == "":
        raise ConfigError("config_dir= is empty; give the directory that holds your config groups (e.g. "
                          "config_dir=myconf), or leave it out")
    if args.config_dir is not None and not os.path.isdir(args.config_dir):
        raise ConfigError(f"config_dir={args.config_dir} is not a directory ({os.path.abspath(args.config_dir)}); give "
                          "the directory that holds your config groups (e.g. myconf, with myconf/experiment/mine.yaml)")
    study = Study(args.budget, args.dir, args.records, overrides, reuse_committed=args.reuse_committed,
                  config_dir=args.config_dir)
    code = study.run(selected, args.dry_run)  # a stop: Interrupted, with the command that resumes the study
    if code:
        raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``ssgen-study``: errors are one line on stderr and exit status 2."""
    # the study updates records it reads (a job's record is rewritten when its run changed): no input guard
    run_console_script("ssgen-study", HELP, argv, study_command, guard_inputs=False)


if __name__ == "__main__":
    main()
