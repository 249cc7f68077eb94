"""The write-up page: every section of the CS5787 write-up, from the records ``ssgen-study writeup`` leaves.

    ssgen-study writeup budget=quick
    ssgen-report writeup runs=outputs/writeup/quick/records out=outputs/writeup/quick/writeup.md
    ssgen-report writeup runs=docs/records/writeup out=docs/writeup.md      # the committed, full-budget page

Sections in the write-up's order: Q1 (KL, JS, W1 on two parallel lines), Q4 (M1 + RBF-SVM at N = 100 / 600 /
1000 / 3000 beside the write-up's numbers, the raw-pixel SVM and M1 + M2; test images, reconstructions and the
head's predictions), Q5 (arch A and B, real vs generated pullovers and ankle boots, loss curves, failed
convergences, FID / KID / class-consistency / precision / recall beside the real-data floor), then where ssgen
departs from the write-up. Every number is a mean ± std over the study's seeds of ``status: ok`` runs, with the
command that made it; a part without records says "not run yet" and the command that runs it. Figures go beside
the page (``docs/writeup.md`` -> ``docs/writeup/*.png``); the markdown depends on the records only, so it
regenerates byte for byte.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ssgen.errors import ConfigError, SSGenError
from ssgen.io import save_figure
from ssgen.reporting.study import (
    COMMITTED_GAN_RECORDS,
    GAN_ARCHS,
    GAN_METHODS,
    PART_TITLES,
    Budget,
    Study,
    generator_steps,
    load_study,
    n_critic,
    relative_to_cwd,
)
from ssgen.reporting.tables import (
    ARCH_LETTERS,
    evaluator_key,
    failure_lines,
    gan_metrics_table,
    markdown_table,
    mean_std,
    settings_labels,
    write_page,
)
from ssgen.run.results import WRITEUP_M1_SVM, find_results, is_ok

WRITEUP_PAGE = Path("outputs") / "pages" / "writeup.md"  # the default out=: commands write into outputs/, not docs/
# The write-up's reported M1 + SVM test accuracies, by N (one table in ssgen.run.results, the run summary's too)
WRITEUP_M1 = {int(n): accuracy for n, accuracy in WRITEUP_M1_SVM.items()}
# What the write-up reports about failed convergence (Q5), by method
WRITEUP_FAILURES = {"dcgan": "5-6 tries", "wgan_clip": "1 failed convergence", "wgan_gp": "1 failed convergence"}
ARCH_LABELS = {arch: f"{letter} (`arch={arch}`)" for arch, letter in ARCH_LETTERS.items()}  # "Arch A (`arch=dcgan`)"
METHOD_LABELS = {"dcgan": "DCGAN", "wgan_clip": "WGAN (clipping)", "wgan_gp": "WGAN-GP"}
ARCHITECTURES = """| | arch A: `arch=dcgan` | arch B: `arch=dcgan_softplus` |
|---|---|---|
| generator | [noise, label embedding] → linear → (2w, 7, 7) → convT (w, 14, 14) → convT (1, 28, 28), tanh | the same layers |
| critic | conv (w) 28 → 14 → conv (2w) 14 → 7 → linear, projection on the label | the same layers |
| normalisation | generator batch norm; critic per method: spectral (DCGAN), batch (WGAN clip), layer (WGAN-GP) | none, in either network |
| hidden activation | ReLU (generator), LeakyReLU 0.2 (critic) | softplus(2x + 2) / 2 everywhere |
| width w | 64 | 64 |"""
DEPARTURES = (
    "Q1: the write-up derives the closed forms; ssgen also estimates KL and JS from histograms of samples, W1 by "
    "exact optimal transport on the samples and by a trained WGAN-GP critic (`ssgen/reporting/theory.py`).",
    "Q4: the write-up chose the SVM's regularisation by test accuracy; ssgen chooses C, gamma and feature scaling by "
    "cross-validation on the N labelled images (`svm_head.cv_folds` folds, 5 unless overridden), and touches "
    "the test set once, to score.",
    "Q4: the write-up's table prints its last row as N = 6000 while its text says 3000; ssgen scores N = 3000.",
    "Q4: the labelled images are a class-balanced draw per seed, and each number is a mean over seeds where the "
    "write-up reports one run; the M1 VAE is `ssgen-train`'s default M1 (docs/results.md).",
    "Q4: M1 + M2 (Kingma et al. 2014) is ssgen's addition: M2 trained on the latent space of the M1 run of the same "
    "seed (docs/m2.md).",
    "Q5: failed convergence is detected during training (FID divergence, collapse or stall: "
    "`callbacks/failed_convergence`) and the run restarts once with the next seed (`restarts: 1`); the write-up "
    "counted its own retries.",
    "Q5: FID and KID are computed in the feature space of a Fashion-MNIST classifier (docs/evaluator.md), not "
    "Inception's, on the checkpoint chosen by the in-training FID against training images (never the test set).",
)


def over_seeds(seeds: list[Any]) -> str:
    """What a cell of these seeds is: 'mean ± std over seeds 0, 1, 2', or 'one run, seed 0'."""
    if len(seeds) == 1:
        return f"one run, seed {seeds[0]}"
    return f"mean ± std over seeds {', '.join(map(str, seeds))}"


# ------------------------------------------------------------------------------------------------ records
def part_records(study: Study, part: str) -> list[tuple[Path, dict[str, Any]]]:
    """The records standing for ``part``'s jobs, one per job (this study's own first, then committed ones)."""
    spec = study.parts[part]
    wanted = {spec.job_name(job) for job in spec.jobs()}
    chosen: dict[str, tuple[Path, dict[str, Any]]] = {}
    for source in study.sources(part):
        if source.is_dir():
            for run_dir, results in find_results([source], missing_ok=True):
                if run_dir.name in wanted and run_dir.name not in chosen:
                    chosen[run_dir.name] = (run_dir, results)
    return [chosen[name] for name in sorted(chosen)]


def heads_by_n(records: list[tuple[Path, dict[str, Any]]], head: str) -> dict[int, list[float]]:
    """N -> the ok runs' test accuracies of ``head`` (results.json ``heads[N][head]["accuracy"]``), all settings
    together (``heads_by_setting`` keeps them apart)."""
    values: dict[int, list[float]] = {}
    for by_n in heads_by_setting(records, head).values():
        for n, accuracies in by_n.items():
            values.setdefault(n, []).extend(accuracies)
    return values


def heads_by_setting(records: list[tuple[Path, dict[str, Any]]], head: str) -> dict[str, dict[int, list[float]]]:
    """Settings label ('' when the records share one configuration; ``settings_labels``) -> N -> the ok runs' test
    accuracies of ``head``: a cell of the page averages one configuration."""
    label = settings_labels(records)
    values: dict[str, dict[int, list[float]]] = {}
    for run_dir, result in records:
        if is_ok(result):
            for n, entry in (result.get("heads") or {}).items():
                if isinstance(entry.get(head, {}).get("accuracy"), int | float):
                    values.setdefault(label[run_dir], {}).setdefault(int(n), []).append(float(entry[head]["accuracy"]))
    return values


def not_run(study: Study, part: str) -> str:
    if part == "q1":
        return f"*Not run yet.* Run it with `{study.study_command(part)}`."
    return (f"*Not run yet.* Run it with `{study.study_command(part)}`, which "
            f"launches:\n\n```\n{study.command(part)}\n```")


def made_by(study: Study, part: str) -> list[str]:
    return ["Made by:", "", "```", study.command(part), "```"]


def figure_line(name: str, folder: str, caption: str) -> str:
    return f"![{caption}]({folder}/{name})"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def minutes(records: list[tuple[Path, dict[str, Any]]]) -> float:
    return sum(float(r.get("wall_time_s") or 0.0) for _, r in records) / 60


# ------------------------------------------------------------------------------------------------ Q1
def q1_section(study: Study, figures: Path, folder: str) -> list[str]:
    lines = [f"## {PART_TITLES['q1']}", "",
             "P is uniform on the segment x = 0, 0 ≤ y ≤ 1; Q the same segment at x = θ. For θ ≠ 0 the supports are "
             "disjoint: KL(P ‖ Q) = ∞ and JS(P ‖ Q) = log 2 whatever θ, while W1(P, Q) = |θ| shrinks continuously "
             "to 0 (Arjovsky et al. 2017, example 1). Estimates from samples beside the closed forms:", ""]
    path = study.records / "q1" / "theory.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return [*lines, not_run(study, "q1"), ""]
    from ssgen.reporting.theory import closed_form

    seeds = record["seeds"]
    first = next(iter(seeds.values()))
    thetas = np.asarray(first["theta"])
    shown = sorted({int(np.argmin(np.abs(thetas - target))) for target in (0.0, 0.5, 1.0)})
    rows = []
    for index in shown:
        theta = float(thetas[index])
        exact = closed_form(theta)

        def cell(key: str, digits: int = 3, index: int = index) -> str:
            return mean_std([seed[key][index] for seed in seeds.values()], digits, expected=len(seeds))

        kl_exact = "∞" if math.isinf(exact["kl"]) else f"{exact['kl']:g}"
        rows.append([f"{theta:g}", cell("kl"), kl_exact, cell("js", 4), f"{exact['js']:.4f}", cell("w1", 4),
                     cell("critic_w1", 4), f"{exact['w1']:g}"])
    lines.append(markdown_table(["θ", "KL estimate", "KL exact", "JS estimate", "JS exact", "W1, exact OT on samples",
                                 "W1, WGAN-GP critic", "W1 exact"], rows))
    settings = record["settings"]
    lines += ["", f"{over_seeds(list(seeds)).capitalize()}; {settings['n_samples']} samples per distribution and θ; "
              "KL and JS from a shared histogram (a finite sample puts the KL estimate at a finite, growing value where "
              "the truth is ∞: the right panel shows it growing like log n); the critic trained "
              f"{settings['critic_steps']} Adam steps with the WGAN-GP loss of `ssgen/losses.py`.", "",
              *made_by(study, "q1"), ""]
    lines += [figure_line(draw_q1(record, figures), folder, "KL, JS and W1 against θ"), "",
              figure_line(draw_q1_critic(record, figures), folder, "The WGAN-GP critic's W1 against |θ|"), ""]
    return lines


def _q1_arrays(record: dict[str, Any]) -> dict[str, np.ndarray]:
    from ssgen.reporting.theory import closed_form

    first = next(iter(record["seeds"].values()))
    arrays = {key: np.asarray(value, dtype=float) for key, value in first.items()}
    for name in ("kl", "js", "w1"):
        arrays[f"{name}_exact"] = np.array([closed_form(float(theta))[name] for theta in arrays["theta"]])
    return arrays


def draw_q1(record: dict[str, Any], figures: Path) -> str:
    import matplotlib.pyplot as plt

    from ssgen.reporting.theory import plot_parallel_lines

    growth = {float(theta): {key: np.asarray(value) for key, value in series.items()}
              for theta, series in record["growth"].items()}
    figure = plot_parallel_lines(_q1_arrays(record), growth, record["settings"]["n_samples"])
    save_figure(figure, figures / "q1_parallel_lines.png", dpi=110)
    plt.close(figure)
    return "q1_parallel_lines.png"


def draw_q1_critic(record: dict[str, Any], figures: Path) -> str:
    import matplotlib.pyplot as plt

    from ssgen.reporting.theory import plot_critic

    figure = plot_critic(_q1_arrays(record))
    save_figure(figure, figures / "q1_critic.png", dpi=110)
    plt.close(figure)
    return "q1_critic.png"


# ------------------------------------------------------------------------------------------------ Q4
def q4_section(study: Study, figures: Path, folder: str) -> list[str]:
    m1 = part_records(study, "m1")
    m1_m2 = part_records(study, "m1_m2")
    columns = list(study.budget.n_labels)
    rows = [("write-up: M1 + SVM (reported, 1 run)", {n: [WRITEUP_M1[n]] for n in columns if n in WRITEUP_M1}, True)]
    for title, records, head in (("RBF-SVM on raw pixels, same labels", m1, "raw_svm"),
                                 ("raw pixels, best head by CV (SVM or graph, inductive)", m1, "raw_best"),
                                 ("ssgen: M1 + RBF-SVM", m1, "m1_svm"),
                                 ("ssgen: M1 + best head by CV (SVM or graph, inductive)", m1, "m1_best"),
                                 ("ssgen: M1 + label spreading (transductive)", m1, "m1_spreading"),
                                 ("ssgen: M1 + M2", m1_m2, "m1_m2")):
        by_setting = heads_by_setting(records, head)  # a row per configuration, named when there are several
        rows += [(f"{title} [{setting}]" if setting else title, values, False)
                 for setting, values in sorted(by_setting.items())] or [(title, {}, False)]
    lines = [f"## Q4: M1 + RBF-SVM at N = {' / '.join(map(str, columns))} labels", "",
             "Test accuracy on the 10k Fashion-MNIST test set; M1's VAE trains on all 60k training images without "
             "labels, then the heads fit on the encoder means of N labelled ones.", ""]
    table = []
    seeds = sorted({r.get("seed") for _, r in m1 + m1_m2 if is_ok(r)}, key=str)
    for label, values, reported in rows:
        if not reported and not values:
            continue
        cells = [(f"{values[n][0]:.4f}" if reported else mean_std(values[n], 4, expected=len(seeds)))
                 if n in values else "–" for n in columns]
        table.append([label, *cells])
    lines.append(markdown_table(["", *(f"N = {n}" for n in columns)], table))
    if seeds:
        lines += ["", f"ssgen rows: {over_seeds(seeds)} (each seed draws its own "
                  "class-balanced labelled subset; the raw-pixel SVM uses the same labels as the M1 head beside it)."]
    if heads_by_n(m1, "m1_best"):
        lines += ["", "Best head by CV: the RBF-SVM or a graph head (Poisson, Poisson with class priors or Laplace "
                  "learning on a kNN graph of training images, Calder et al. 2020), whichever scores best in 5-fold "
                  "cross-validation on the N labelled images; the raw pixels get theirs by the same rule. Inductive: "
                  "each test image joins the stored graph alone, so its label does not depend on the other test "
                  "images. Each run's results.json also has M1's graph head in the paper's transductive setting "
                  "(the test images as unlabelled nodes)."]
    lines.append("")
    for part, records in (("m1", m1), ("m1_m2", m1_m2)):
        title = "M1 + SVM and the raw-pixel SVM" if part == "m1" else "M1 + M2"
        if not any(is_ok(r) for _, r in records):
            lines += [f"{title}: {not_run(study, part)}", ""]
        else:
            lines += [f"{title}, {plural(len(records), 'run')}, {minutes(records):.1f} min of run time (training and scoring, sum over runs). "
                      + made_by(study, part)[0], *made_by(study, part)[1:], ""]
        failures = failure_lines(records)
        if failures:
            lines += ["Failed or unfinished runs (not in the table):", *failures, ""]
    examples = next((run_dir / "m1_examples.npz" for run_dir, r in m1 if is_ok(r) and (run_dir / "m1_examples.npz").is_file()),
                    None)
    if examples is not None:
        name, caption = draw_examples(examples, figures)
        lines += [caption, "", figure_line(name, folder, "test images, reconstructions and predicted labels"), ""]
    elif m1:
        lines += ["The examples figure needs `m1_examples.npz` in the M1 records (written by the svm_head since it "
                  "learned to; rerun the M1 part into a new dir=).", ""]
    return lines


def draw_examples(path: Path, figures: Path) -> tuple[str, str]:
    """Test images (odd rows) above their reconstructions, titled with the SVM head's label against the true one."""
    import matplotlib.pyplot as plt

    from ssgen.data import TORCHVISION_CLASS_NAMES

    with np.load(path) as archive:
        data = {key: archive[key] for key in archive.files}
    predicted = sorted((key for key in data if key.startswith("predicted_n")), key=lambda key: int(key[11:]))
    key = predicted[0]
    n = int(key[11:])
    images, reconstructions, labels, guesses = data["images"], data["reconstructions"], data["labels"], data[key]
    per_row = 10
    rows = math.ceil(len(images) / per_row)
    figure, axes = plt.subplots(2 * rows, per_row, figsize=(1.3 * per_row, 2.9 * rows), squeeze=False)
    for index in range(rows * per_row):
        top, bottom = axes[2 * (index // per_row)][index % per_row], axes[2 * (index // per_row) + 1][index % per_row]
        for axis in (top, bottom):
            axis.set_xticks([])
            axis.set_yticks([])
        if index >= len(images):
            top.axis("off")
            bottom.axis("off")
            continue
        top.imshow(images[index], cmap="gray", vmin=0, vmax=255)
        bottom.imshow(reconstructions[index], cmap="gray", vmin=0, vmax=255)
        right = guesses[index] == labels[index]
        top.set_title(f"{TORCHVISION_CLASS_NAMES[labels[index]]}\n→ {TORCHVISION_CLASS_NAMES[guesses[index]]}",
                      fontsize=7, color="black" if right else "red")
        if index % per_row == 0:
            top.set_ylabel("test image", fontsize=7)
            bottom.set_ylabel("reconstruction", fontsize=7)
    correct = int((guesses == labels).sum())
    figure.suptitle(f"M1: test images, their reconstructions, and the SVM head's label (N = {n}); red: wrong", fontsize=9)
    figure.tight_layout()
    save_figure(figure, figures / "q4_examples.png", dpi=110)
    plt.close(figure)
    caption = (f"The write-up's example of M1's output and the SVM's prediction: {len(images)} test images "
               f"(the first {len(images) // 10} of each class) above their reconstructions (the decoder's mean at the "
               f"encoder's mean), each titled true → predicted by the N = {n} head of seed {path.parent.name.removeprefix('seed')}; "
               f"{correct} of {len(images)} right.")
    return "q4_examples.png", caption


# ------------------------------------------------------------------------------------------------ Q5
def figure_runs(records: list[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Records as ``ssgen.reporting.figures`` takes runs: results plus ``run_dir``, ``trained_dir`` (the record
    itself) and ``variant`` (the settings that set it apart, so a curve is one configuration's)."""
    from ssgen.reporting.figures import with_variants

    chosen = [(run_dir, result) for run_dir, result in records
              if result.get("method") in GAN_METHODS and result.get("arch") in GAN_ARCHS]
    return [{**run, "trained_dir": run["run_dir"]} for run in with_variants(chosen)]


def generator_steps_line(budget: Budget) -> str:
    """One line: the generator steps each GAN method gets under ``budget``, and whether they are equal."""
    steps = {method: generator_steps(budget, method) for method in GAN_METHODS}
    listed = ", ".join(f"{METHOD_LABELS.get(method, method)} {count:,}" for method, count in steps.items())
    critics = sorted({n_critic(method) for method in GAN_METHODS})
    own = "; ".join(f"{METHOD_LABELS.get(method, method)} `{' '.join(words)}`" for method, words in budget.gan_method.items())
    settings = f" This budget also sets {own} (measured to help at it: docs/design/gans.md)." if own else ""
    if len(set(steps.values())) == 1:
        return (f"Generator steps per run: {listed}. The budget gives every method the same generator steps "
                f"({budget.gan_generator_steps or next(iter(steps.values()))}); a method with n critic steps per "
                f"generator step sees n times the real batches.{settings}")
    return (f"Generator steps per run: {listed}. The budget gives every method the same epochs and batches"
            f"{' (as the write-up ran it)' if budget.name == 'full' else ''}, so a method with {critics[-1]} critic steps per generator step makes 1/{critics[-1]} of the "
            f"generator steps of one with 1.{settings}")


# What a sample figure must reach before the page shows it as the method's result (issue 43): the samples are
# garments of the asked class (the evaluator agrees with the label at least half the time) and FID is near the study's
UNDER_TRAINED = {"class_consistency": 0.5, "fid": 40.0}


def under_trained_lines(records: list[tuple[Path, dict[str, Any]]], budget: Budget) -> list[str]:
    """Lines naming each (method, arch) whose finished runs, on average, fall short of ``UNDER_TRAINED``: their
    samples say what the budget gave them, not what the method does ([] when every one reaches it)."""
    if budget.name == "full":  # the write-up's own budget: its numbers are the methods' results, short or not
        return []
    short = []
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for _, r in records:  # never an average over two evaluators' feature spaces
        if is_ok(r):
            groups.setdefault((str(r.get("method")), str(r.get("arch")), evaluator_key(r)), []).append(r)
    for (method, arch, _), ok in sorted(groups.items()):
        if method in GAN_METHODS and arch in GAN_ARCHS:
            consistency = [r["class_consistency"] for r in ok if isinstance(r.get("class_consistency"), int | float)]
            fid = [r["fid"] for r in ok if isinstance(r.get("fid"), int | float)]
            if not consistency or not fid:
                continue
            mean_cc, mean_fid = sum(consistency) / len(consistency), sum(fid) / len(fid)
            if mean_cc < UNDER_TRAINED["class_consistency"] or mean_fid > UNDER_TRAINED["fid"]:
                short.append(f"- {METHOD_LABELS.get(method, method)} on arch {ARCH_LABELS[arch]}: class-consistency "
                             f"{mean_cc:.3f}, FID {mean_fid:.1f} after {generator_steps(budget, method):,} generator steps")
    if not short:
        return []
    return ["**Under-trained at this budget** (class-consistency below "
            f"{UNDER_TRAINED['class_consistency']} or FID above {UNDER_TRAINED['fid']:.0f}): these samples show what "
            "the budget gave the method, not what the method can do; `budget=full` trains longer (its committed "
            "numbers: docs/gan_metrics.md).", "", *short, ""]


def q5_section(study: Study, figures: Path, folder: str) -> list[str]:
    records = [(run_dir, r) for run_dir, r in part_records(study, "gan") if r.get("method") in GAN_METHODS]
    lines = [f"## {PART_TITLES['gan']}", "",
             "Class-conditional DCGAN, WGAN with weight clipping and WGAN-GP (Gulrajani et al. 2017) on all 60k "
             "labelled training images, on two architectures:", "", ARCHITECTURES, ""]
    if not records:
        return [*lines, not_run(study, "gan"), ""]
    sources = sorted({relative_to_cwd(run_dir.parent) for run_dir, _ in records})
    lines += [f"{plural(len(records), 'run')}, {minutes(records):.0f} min of run time (training and scoring, sum over runs), records in "
              f"{', '.join(f'`{source}`' for source in sources)}. " + made_by(study, "gan")[0], *made_by(study, "gan")[1:]]
    lines += ["", generator_steps_line(study.budget)]
    reused = sum(run_dir.parent.resolve() == COMMITTED_GAN_RECORDS.resolve() for run_dir, _ in records)
    if reused:
        lines += ["", f"**Reused, not trained by this study** (`reuse_committed=true`): {reused} of these "
                  f"{plural(len(records), 'run')} are the committed records in `docs/records/gan_study`, made by "
                  "`python tools/gan_study.py run` at this budget (the same `ssgen-train experiment=gan method=<m> "
                  "arch=<a> seed=<s>` per job). Without `reuse_committed=true` the study trains them."]
    lines.append("")
    from ssgen.reporting.figures import plot_losses, plot_samples

    runs = figure_runs(records)
    lines += ["### Real vs generated pullovers and ankle boots", ""]
    for arch in GAN_ARCHS:
        arch_runs = [run for run in runs if run["arch"] == arch]
        if not arch_runs:
            lines += [f"Arch {ARCH_LABELS[arch]}: {not_run(study, 'gan')}", ""]
            continue
        plot_samples(arch_runs, arch, figures / f"q5_samples_{arch}.png")
        lines += [f"Arch {ARCH_LABELS[arch]}: the lowest-FID run of each method (noise seed 0).", "",
                  figure_line(f"q5_samples_{arch}.png", folder, f"real vs generated, arch {arch}"), ""]
    lines += under_trained_lines(records, study.budget)
    lines += ["### Generator and critic losses", "",
              "EMA-smoothed (0.9) per seed; line: mean over seeds, band: lowest to highest seed; x: training batches.", ""]
    for arch in GAN_ARCHS:
        arch_runs = [run for run in runs if run["arch"] == arch]
        if arch_runs:
            plot_losses(arch_runs, arch, figures / f"q5_losses_{arch}.png")
            lines += [figure_line(f"q5_losses_{arch}.png", folder, f"losses, arch {arch}"), ""]
    lines += ["### Failed convergences", "",
              "Restarts the failed-convergence detector made (results.json `failed_runs`), and runs that still "
              "failed after their restart, per method and architecture:", ""]
    table = []
    for method in GAN_METHODS:
        cells = []
        for arch in GAN_ARCHS:
            group = [r for _, r in records if r.get("method") == method and r.get("arch") == arch]
            restarts = sum(int(r.get("failed_runs") or 0) for r in group)
            failed = sum(not is_ok(r) for r in group)
            cells.append(f"{restarts} / {len(group)} ({failed})" if group else "–")
        table.append([method, WRITEUP_FAILURES[method], *cells])
    lines.append(markdown_table(["method", "write-up", *(f"arch {ARCH_LABELS[arch]}: restarts / runs (failed)"
                                                         for arch in GAN_ARCHS)], table))
    lines += ["", "### Sample quality beside the real-data floor", "",
              "FID / KID in the feature space of the Fashion-MNIST evaluator (docs/gan_metrics.md says how each is "
              "computed); the floor row scores real training images against the test images the same way.", "",
              gan_metrics_table(records, expected=len(study.budget.seeds)), ""]
    failures = failure_lines(records)
    if failures:
        lines += ["Failed or unfinished runs (not in the means):", *failures, ""]
    return lines


# ------------------------------------------------------------------------------------------------ the page
def write_writeup(records: str | Path, out: str | Path | None = None) -> str:
    """The write-up page from a records dir (``ssgen-study writeup``'s ``records=``); figures into ``<out stem>/``
    beside ``out`` (default ``outputs/pages/writeup.md``). Returns the markdown. Raises SSGenError for a missing dir."""
    records = Path(records)
    if not records.is_dir():
        raise SSGenError(f"{records} does not exist; run `ssgen-study writeup budget=quick` first, then give its "
                         "records dir (outputs/writeup/quick/records)")
    study = load_study(records)
    out = Path(out) if out else WRITEUP_PAGE
    if out.suffix != ".md":  # a slip of the path (out=<records>/q1/theory.json) must not overwrite a record
        raise ConfigError(f"out={out} is not a markdown page; give a .md path, e.g. out=outputs/writeup.md")
    figures = out.parent / out.stem
    folder = out.stem
    budget = study.budget
    command = f"ssgen-report writeup runs={records} out={out}"
    manifest = study.manifest()
    header = ["# The CS5787 write-up, reproduced with ssgen", "",
              f"Budget: **{budget.name}**: {budget.description}."
              + ("" if budget.name == "full" else " **These are not the write-up's numbers: rerun with "
                 "`budget=full` for those.**"), "",
              "Regenerate this page from its records alone (seconds):", "", "```", command, "```", "",
              "The study that made them (a job already in these records is kept, not rerun; another `records=` "
              "dir starts afresh, and trains every part unless `reuse_committed=true` is given):", "", "```", study.study_command(), "```", "",
              "On a GPU several jobs share the device with the joblib launcher (docs/cluster.md; not tested on a GPU "
              "here): add `trainer.accelerator=gpu hydra/launcher=joblib_local hydra.launcher.n_jobs=4` to the "
              "`ssgen-study` line.", ""]
    elapsed = manifest.get("elapsed_s") or {}
    if elapsed:
        header += ["Wall time of the study command per part, as `ssgen-study` measured it on the machine that made "
                   "these records (`study.json`; start-up, scoring and any other load on that machine included; parts "
                   "reused from committed records cost nothing): " + ", ".join(f"{part} {seconds / 60:.1f} min" for part, seconds in elapsed.items())
                   + f"; total {sum(elapsed.values()) / 60:.1f} min.", ""]
    lines = [*header, *q1_section(study, figures, folder), *q4_section(study, figures, folder),
             *q5_section(study, figures, folder), "## Where ssgen departs from the write-up", "",
             *(f"- {line}" for line in DEPARTURES), ""]
    return write_page(out, "\n".join(lines), command)
