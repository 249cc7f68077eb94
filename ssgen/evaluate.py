"""ssgen-evaluate: score a generator run: FID, KID, class-consistency, precision / recall, per-class FID vs the 10k
test images, each beside its real-data floor.

    ssgen-evaluate run=outputs/gan/2025-01-01_12-00-00                 # run dir: checkpoints/best.ckpt, else last.ckpt
    ssgen-evaluate run=outputs/gan/<run>/checkpoints/last.ckpt n_samples=2000 out=last_metrics.json seed=1
    ssgen-evaluate run=outputs/m1/<run> n_samples=10000                # the M1 VAE: FID/KID of prior samples
    ssgen-evaluate run=outputs/gan/<run> fid_network=inception         # standard Inception FID (another scale)

Works for the GANs (``generate(labels, noise)``, output in [-1, 1]), M2 / M1+M2 and the M1 VAE
(``generate_prior(n)``, Bernoulli means in [0, 1]). The model class comes from the checkpoint
(``ssgen_module``, written by ssgen-train), else from the run dir's ``.hydra/config.yaml``
(``method._target_``). Errors are one line on stderr and exit status 2: a missing, truncated or
corrupt checkpoint, or one that is not a generator. ``fid_network=inception`` gives only the standard FID of
torchmetrics' Inception-v3 (needs torch-fidelity: ``pip install 'ssgen[inception]'``; weights downloaded on first
use unless ``inception_weights=`` names a local copy), labelled "FID (Inception, torchmetrics; not comparable with
ssgen's domain FID)".
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssgen.cli import Legacy, argument, help_text, parse, run_console_script
from ssgen.errors import CheckpointError, ConfigError

FID_NETWORKS = ("evaluator", "inception")


@dataclass
class EvaluateArguments:
    """ssgen-evaluate's arguments (``ssgen.cli.parse``)."""

    run: str = argument(help="a run dir (checkpoints/best.ckpt, else last.ckpt) or a .ckpt file", hint="<run dir>", path=True)
    n_samples: int = argument(10000, help="generated images in all, class-balanced for conditional generators")
    out: str | None = argument(None, help="JSON file to write (default <checkpoint>.metrics.json beside it)", path=True)
    seed: int = argument(0, help="noise of the samples, the floor's training-image draw, KID's subsets")
    cache_dir: str | None = argument(None, help="evaluator cache (default $SSGEN_CACHE or ~/.cache/ssgen)", path=True)
    evaluator: str | None = argument(None, help="a .safetensors evaluator file instead of the cached default", path=True)
    floor: bool = argument(True, help="also score n_samples real training images vs the test set")
    fid_network: str = argument("evaluator", help="evaluator: the domain metrics; inception: the standard FID only",
                                choices=FID_NETWORKS)
    inception_weights: str | None = argument(None, help="a local copy of torch-fidelity's Inception weights (offline)", path=True)


LEGACY = Legacy(keys={"ckpt": "run", "n": "n_samples"})  # 0.1's spellings, for one release
HELP = help_text("ssgen-evaluate", "Score a generator run: FID, KID, class-consistency, precision / recall and "
                 "per-class FID against the 10k test images, each beside the real-data floor.", EvaluateArguments,
                 ["ssgen-evaluate run=outputs/gan/<run>",
                  "ssgen-evaluate run=<run dir>/checkpoints/last.ckpt n_samples=2000 out=last.json seed=1",
                  "ssgen-evaluate run=<run dir> fid_network=inception"],
                 docs="docs/gan_metrics.md and docs/evaluator.md")


def parse_args(argv: list[str]) -> dict[str, Any]:
    """``key=value`` arguments -> dict with the defaults filled in; ConfigError on anything unknown or malformed."""
    args = dataclasses.asdict(parse(argv, EvaluateArguments, "ssgen-evaluate", LEGACY))
    if args["n_samples"] < 20:
        raise ConfigError(f"n_samples={args['n_samples']} is too small for FID/KID; use at least 20 (10000 for "
                          "reported numbers)")
    if args["inception_weights"] and args["fid_network"] != "inception":
        raise ConfigError("inception_weights= is used only with fid_network=inception; add it or drop inception_weights")
    return args


def _class_from_run_dir(checkpoint_path: Path) -> str | None:
    """``method._target_`` of the run dir's .hydra/config.yaml (checkpoints live in <run_dir>/checkpoints)."""
    for run_dir in (checkpoint_path.parent.parent, checkpoint_path.parent):
        config = run_dir / ".hydra" / "config.yaml"
        if config.is_file():
            from omegaconf import OmegaConf

            try:
                return OmegaConf.load(config).method.get("_target_")
            except Exception:  # a config we cannot read just means: no hint from it
                return None
    return None


def load_generator(path: str | Path) -> tuple[Any, Path]:
    """The generator LightningModule of a checkpoint or run dir (CPU, eval mode) and the resolved .ckpt path.

    The class comes from the checkpoint, else from its run dir's config; either passes the checkpoint gate
    (``ssgen.models.checkpoints.check_checkpoint``). CheckpointError for anything that is not a generator.
    """
    from ssgen.api import load_checked  # the gate and the version check every loader passes
    from ssgen.evaluation.scoring import is_generator
    from ssgen.models.checkpoints import read_checkpoint, resolve_checkpoint

    checkpoint_path = resolve_checkpoint(path)
    checkpoint = read_checkpoint(checkpoint_path)  # truncated / corrupt / unsafe -> CheckpointError
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{checkpoint_path} is not a Lightning checkpoint (no state_dict); give a .ckpt of an ssgen-train run")
    fallback = None if checkpoint.get("ssgen_module") else _class_from_run_dir(checkpoint_path)
    if not checkpoint.get("ssgen_module") and not fallback:
        raise CheckpointError(f"{checkpoint_path} names no model class (no 'ssgen_module' entry, no .hydra/config.yaml "
                              "in its run dir); give the checkpoint of an ssgen-train run")
    module = load_checked(checkpoint_path, fallback_target=fallback)[0]
    if not is_generator(module):
        raise CheckpointError(f"{checkpoint_path} is a {type(module).__name__} checkpoint, not a generator (no generate "
                              "or generate_prior); give the checkpoint of a GAN or M1 run")
    return module, checkpoint_path


def evaluate(args: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """Score the checkpoint; returns the report (also written to ``out``) and the path written."""
    from ssgen.evaluation.evaluator import evaluator_for
    from ssgen.evaluation.inception import inception_report
    from ssgen.evaluation.scoring import generator_report, make_sampler
    from ssgen.io import atomic_write_json, check_output

    module, checkpoint_path = load_generator(args["run"])
    default_out = checkpoint_path.with_suffix(".inception_fid.json" if args["fid_network"] == "inception" else ".metrics.json")
    out = Path(args["out"]) if args["out"] else default_out
    check_output(out, "out")  # not the checkpoint, nor the run's record: before minutes of scoring
    info = module.data_info  # the data set it was trained on: its test images, classes and evaluator
    sampler, conditional = make_sampler(module, seed=args["seed"])
    if args["fid_network"] == "inception":  # the domain evaluator is not needed (nor trained on first use)
        report = inception_report(sampler, n=args["n_samples"], seed=args["seed"], floor=args["floor"],
                                  weights_path=args["inception_weights"], info=info)
    else:
        evaluator = evaluator_for(info, args["evaluator"] or None, args["cache_dir"])
        report = generator_report(sampler, evaluator, n=args["n_samples"], conditional=conditional, seed=args["seed"],
                                  floor=args["floor"])
    report = {"checkpoint": str(checkpoint_path), "model": type(module).__name__, "seed": args["seed"],
              "fid_network": args["fid_network"], **report}
    check_output(out, "out")  # the evaluator file and the data it read are inputs too
    atomic_write_json(out, report)
    return report, out


def format_report(report: dict[str, Any]) -> str:
    """Human-readable lines: each score beside its floor."""
    if report.get("fid_network") == "inception":
        floor = report.get("fid_inception_floor")
        return "\n".join([
            f"{report['model']} {report['checkpoint']}: n={report['n']} generated vs {report['n_reference']} test images "
            f"(Inception weights: {report['inception_weights']})",
            f"  {report['fid_label']}: {report['fid_inception']:.3f}" + (f"   (floor {floor:.3f})" if floor is not None else "")])
    lines = [f"{report['model']} {report['checkpoint']}: n={report['n']} generated vs {report['n_reference']} test images "
             f"(evaluator {report['evaluator_config_hash']}, weights {report.get('evaluator_weights_digest')}, "
             f"test accuracy {report['evaluator_test_accuracy']:.4f})"]
    for key, digits in (("fid", 3), ("kid", 5), ("kid_std", 5), ("class_consistency", 4), ("precision", 4),
                        ("recall", 4), ("min_class_spread", 4)):
        if key in report:
            floor = report.get(f"{key}_floor")
            lines.append(f"  {key:18s} {report[key]:.{digits}f}" + (f"   (floor {floor:.{digits}f})" if floor is not None else ""))
    if "per_class_fid" in report:
        floors = report.get("per_class_fid_floor", {})
        lines.append("  per-class FID      " + ", ".join(
            f"{name} {value:.2f}" + (f" ({floors[name]:.2f})" if name in floors else "")
            for name, value in report["per_class_fid"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``ssgen-evaluate``: errors are one line on stderr and exit status 2."""

    def evaluate_and_print(argv: list[str]) -> None:
        report, out = evaluate(parse_args(argv))
        print(format_report(report))
        print(f"wrote {out}")
        print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}, sort_keys=True))

    run_console_script("ssgen-evaluate", HELP, argv, evaluate_and_print)


if __name__ == "__main__":
    main()
