"""Why Wasserstein: the parallel-lines example (Arjovsky et al. 2017, example 1), estimated from samples.

P puts x = 0 and y ~ U(0, 1); Q puts x = theta and y ~ U(0, 1). For theta != 0 the supports are
disjoint, so KL(P || Q) = inf and JS(P || Q) = log 2 whatever theta is, while W1(P, Q) = |theta|.
This module estimates all three from samples and plots them against the closed forms.

Reproduce the figures of docs/theory.md (about 15 s on two CPU cores, mostly training the 21 critics)::

    python -m ssgen.reporting.theory out=outputs/theory

writes ``outputs/theory/wasserstein_parallel_lines.png`` (KL / JS / W1 against theta, closed forms dashed,
estimates as solid markers, plus how the KL and JS estimates behave as the sample size grows) and
``outputs/theory/wasserstein_critic.png`` (the W1 estimate of a critic trained with the project's WGAN-GP
loss, against |theta|). Everything is seeded, so a rerun gives the same numbers. The page explaining
the figures is ``docs/theory.md``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from ssgen.cli import Legacy, argument, help_text, parse  # noqa: E402
from ssgen.io import save_figure  # noqa: E402
from ssgen.losses import critic_wasserstein, gradient_penalty  # noqa: E402

PARALLEL_LINES_FIGURE = "wasserstein_parallel_lines.png"
CRITIC_FIGURE = "wasserstein_critic.png"

# The x-bin width is the histogram's resolution: a shift |theta| above half of it puts P and Q in
# different x-bins, so the estimated supports separate exactly as the true ones do.
DEFAULT_X_BIN_WIDTH = 0.05
DEFAULT_Y_BINS = 10


# ---------------------------------------------------------------------------------------------- samples


def sample_p(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points of P: x = 0, y ~ U(0, 1). Shape ``(n, 2)``."""
    return np.column_stack([np.zeros(n), rng.uniform(0.0, 1.0, size=n)])


def sample_q(n: int, theta: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` points of Q: x = theta, y ~ U(0, 1). Shape ``(n, 2)``."""
    return np.column_stack([np.full(n, float(theta)), rng.uniform(0.0, 1.0, size=n)])


def closed_form(theta: float) -> dict[str, float]:
    """Exact KL(P || Q), JS(P || Q) (natural log) and W1(P, Q) for the shift ``theta``."""
    if theta == 0:
        return {"kl": 0.0, "js": 0.0, "w1": 0.0}
    return {"kl": math.inf, "js": math.log(2.0), "w1": abs(float(theta))}


# ---------------------------------------------------------------------------------------------- estimators


def _shared_histogram(p: np.ndarray, q: np.ndarray, x_bin_width: float,
                      y_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ``p`` and ``q`` on one grid, restricted to the bins where either has a point.

    x-bins are centred on multiples of ``x_bin_width`` (so x = 0 sits mid-bin); y-bins split [0, 1].
    Only occupied bins are kept because the grid along x is unbounded and empty bins add nothing.
    """
    def bin_ids(points: np.ndarray) -> np.ndarray:
        x_index = np.floor(points[:, 0] / x_bin_width + 0.5).astype(np.int64)
        y_index = np.clip(np.floor(points[:, 1] * y_bins).astype(np.int64), 0, y_bins - 1)
        return x_index * y_bins + y_index

    p_ids, q_ids = bin_ids(p), bin_ids(q)
    occupied, inverse = np.unique(np.concatenate([p_ids, q_ids]), return_inverse=True)
    p_counts = np.bincount(inverse[: len(p_ids)], minlength=len(occupied)).astype(np.float64)
    q_counts = np.bincount(inverse[len(p_ids):], minlength=len(occupied)).astype(np.float64)
    return p_counts, q_counts


def kl_estimate(p: np.ndarray, q: np.ndarray, *, x_bin_width: float = DEFAULT_X_BIN_WIDTH,
                y_bins: int = DEFAULT_Y_BINS, pseudo_count: float = 0.5) -> float:
    """Histogram estimate of KL(P || Q) from samples ``p``, ``q`` of shape ``(n, 2)``.

    ``pseudo_count`` is added to every occupied bin of Q (additive smoothing). With 0 this is the
    plug-in estimate and returns ``inf`` as soon as P has a point in a bin Q never visits, which is
    what disjoint supports give. With a positive value it stays finite but, for disjoint supports,
    grows like log(n) with the sample size: it has no finite limit to converge to.
    """
    p_counts, q_counts = _shared_histogram(p, q, x_bin_width, y_bins)
    p_prob = p_counts / p_counts.sum()
    q_prob = (q_counts + pseudo_count) / (q_counts.sum() + pseudo_count * len(q_counts))
    mass = p_prob > 0
    if np.any(q_prob[mass] == 0):
        return math.inf
    return float(np.sum(p_prob[mass] * np.log(p_prob[mass] / q_prob[mass])))


def js_estimate(p: np.ndarray, q: np.ndarray, *, x_bin_width: float = DEFAULT_X_BIN_WIDTH,
                y_bins: int = DEFAULT_Y_BINS) -> float:
    """Plug-in histogram estimate of the Jensen-Shannon divergence (natural log, at most log 2).

    No smoothing is needed: the mixture M = (P + Q) / 2 has mass wherever P or Q does, so both KL
    terms are finite. For disjoint supports the estimate is exactly log 2.
    """
    p_counts, q_counts = _shared_histogram(p, q, x_bin_width, y_bins)
    p_prob = p_counts / p_counts.sum()
    q_prob = q_counts / q_counts.sum()
    mixture = 0.5 * (p_prob + q_prob)

    def kl_to_mixture(prob: np.ndarray) -> float:
        mass = prob > 0
        return float(np.sum(prob[mass] * np.log(prob[mass] / mixture[mass])))

    return 0.5 * kl_to_mixture(p_prob) + 0.5 * kl_to_mixture(q_prob)


def w1_exact(p: np.ndarray, q: np.ndarray) -> float:
    """Exact Wasserstein-1 distance between the empirical measures of ``p`` and ``q`` (Euclidean cost).

    Solved as a linear program by ``ot.emd2`` with uniform weights. For two samples of P and Q this
    is |theta| plus a finite-sample excess of roughly 1 / (6 n |theta|) from the independent y's.
    """
    try:
        import ot  # POT: an optional extra of this docs companion (pip install -e ".[theory]")
    except ImportError as exc:
        raise ImportError("ssgen.reporting.theory.w1_exact needs the POT package: pip install -e '.[theory]' (or pip install pot)") from exc

    cost = ot.dist(p, q, metric="euclidean")
    weights_p = np.full(len(p), 1.0 / len(p))
    weights_q = np.full(len(q), 1.0 / len(q))
    # The default iteration cap is hit for a few hundred points per side; the LP itself is cheap.
    return float(ot.emd2(weights_p, weights_q, cost, numItermax=10_000_000))


# ---------------------------------------------------------------------------------------------- critic


def make_critic(hidden: int = 64) -> nn.Module:
    """Small MLP critic f: R^2 -> R (the optimum here is linear in x, so capacity is not the issue)."""
    return nn.Sequential(
        nn.Linear(2, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1),
    )


def train_critic_w1(theta: float, *, n_samples: int = 256, steps: int = 300, lr: float = 5e-3,
                    penalty_weight: float = 10.0, seed: int = 0) -> float:
    """Train a WGAN-GP critic to separate P (as "real") from Q (as "fake"); return its W1 estimate.

    Each step draws fresh samples, so the critic cannot memorise one draw; the estimate
    E_P[f] - E_Q[f] is then measured on held-out samples, where a critic that learned nothing
    scores about 0 rather than a positive overfitting margin.
    """
    rng = np.random.default_rng(seed)
    # A 64-wide MLP gains nothing from intra-op threads, and on a shared CPU the thread hand-offs made
    # it many times slower (docs/theory.md), so train single-threaded, then restore.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_critic_w1(theta, rng, n_samples=n_samples, steps=steps, lr=lr,
                                penalty_weight=penalty_weight, seed=seed)
    finally:
        torch.set_num_threads(threads)


def _train_critic_w1(theta: float, rng: np.random.Generator, *, n_samples: int, steps: int, lr: float,
                     penalty_weight: float, seed: int) -> float:
    # fork_rng keeps the caller's global torch RNG untouched while the initialisation stays seeded.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = make_critic()
        optimizer = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9))
        for _ in range(steps):
            real = torch.as_tensor(sample_p(n_samples, rng), dtype=torch.float32)
            fake = torch.as_tensor(sample_q(n_samples, theta, rng), dtype=torch.float32)
            epsilon = torch.as_tensor(rng.uniform(size=n_samples), dtype=torch.float32)
            loss = (critic_wasserstein(critic(real).squeeze(1), critic(fake).squeeze(1))
                    + penalty_weight * gradient_penalty(critic, real, fake, epsilon=epsilon))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            held_out_real = torch.as_tensor(sample_p(4 * n_samples, rng), dtype=torch.float32)
            held_out_fake = torch.as_tensor(sample_q(4 * n_samples, theta, rng), dtype=torch.float32)
            estimate = -critic_wasserstein(critic(held_out_real), critic(held_out_fake))
    return float(estimate)


# ---------------------------------------------------------------------------------------------- sweep


def sweep(thetas: Sequence[float], *, n_samples: int = 400, seed: int = 0, critic: bool = True,
          critic_steps: int = 300) -> dict[str, np.ndarray]:
    """Estimates and closed forms of KL, JS and W1 for each theta (and the critic's W1 if ``critic``).

    Returns arrays keyed ``theta``, ``kl``, ``js``, ``w1``, ``kl_exact``, ``js_exact``, ``w1_exact``
    and, with ``critic``, ``critic_w1``. Every theta gets its own seeded draw.
    """
    thetas = np.asarray(thetas, dtype=np.float64)
    names = ["kl", "js", "w1", "kl_exact", "js_exact", "w1_exact"] + (["critic_w1"] if critic else [])
    results = {name: np.empty(len(thetas)) for name in names}
    for index, theta in enumerate(thetas):
        rng = np.random.default_rng([seed, index])
        p, q = sample_p(n_samples, rng), sample_q(n_samples, theta, rng)
        results["kl"][index] = kl_estimate(p, q)
        results["js"][index] = js_estimate(p, q)
        results["w1"][index] = w1_exact(p, q)
        exact = closed_form(theta)
        for name in ("kl", "js", "w1"):
            results[f"{name}_exact"][index] = exact[name]
        if critic:
            results["critic_w1"][index] = train_critic_w1(theta, steps=critic_steps, seed=seed + index)
    return {"theta": thetas, **results}


def sample_size_growth(theta: float, sizes: Sequence[int], *, seed: int = 0) -> dict[str, np.ndarray]:
    """KL and JS estimates at one theta for growing sample sizes (shows KL diverging, JS settling)."""
    kl, js = [], []
    for size in sizes:
        rng = np.random.default_rng([seed, size])
        p, q = sample_p(size, rng), sample_q(size, theta, rng)
        kl.append(kl_estimate(p, q))
        js.append(js_estimate(p, q))
    return {"n": np.asarray(sizes), "kl": np.asarray(kl), "js": np.asarray(js)}


# ---------------------------------------------------------------------------------------------- figures

_COLOURS = {"kl": "tab:green", "js": "tab:orange", "w1": "tab:blue", "critic": "tab:red"}


def plot_parallel_lines(results: dict[str, np.ndarray], growth: dict[float, dict[str, np.ndarray]],
                        n_samples: int) -> plt.Figure:
    """Left: KL / JS / W1 against theta. Right: KL and JS estimates against the sample size."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    theta = results["theta"]

    # Closed forms are drawn on each side of theta = 0 separately, with their value at 0 as a lone
    # point: joining the sides through 0 would draw the KL and JS jumps as if they were continuous.
    # Infinity cannot be drawn, so the exact KL sits at the top of the axis with arrows pointing up.
    finite_kl = results["kl"][np.isfinite(results["kl"])]
    top = 1.3 * max(float(finite_kl.max()) if finite_kl.size else 1.0, 1.0)
    theta_max = float(np.abs(theta).max())
    sides = [np.linspace(-theta_max, 0.0, 100)[:-1], np.linspace(0.0, theta_max, 100)[1:]]
    for name, off_zero, label in (("kl", top, "KL exact: ∞ for θ≠0 (drawn at top), 0 at θ=0"),
                                  ("js", math.log(2.0), "JS exact: log 2 for θ≠0, 0 at θ=0")):
        for side_index, side in enumerate(sides):
            left.plot(side, np.full_like(side, off_zero), "--", color=_COLOURS[name],
                      label=label if side_index == 0 else None)
        left.plot([0.0], [0.0], "o", ms=7, mfc="none", color=_COLOURS[name])
    for value in np.linspace(-theta_max, theta_max, 9):
        if value != 0:
            left.annotate("", xy=(value, top * 1.045), xytext=(value, top * 0.94),
                          arrowprops={"arrowstyle": "->", "color": _COLOURS["kl"]})
    dense = np.linspace(-theta_max, theta_max, 201)
    left.plot(dense, np.abs(dense), "--", color=_COLOURS["w1"], label="W1 exact: |θ|")
    # Estimates are markers only, for the same reason: a line between neighbouring thetas would
    # invent values in between.
    left.plot(theta, results["kl"], "o", ms=5, color=_COLOURS["kl"], label=f"KL histogram estimate (n={n_samples})")
    left.plot(theta, results["js"], "o", ms=5, color=_COLOURS["js"], label="JS histogram estimate")
    left.plot(theta, results["w1"], "o", ms=5, color=_COLOURS["w1"], label="W1 exact OT on samples (ot.emd2)")
    left.annotate("θ = 0: all three are 0\n(hollow circles: exact)", xy=(0.0, 0.05), xytext=(-0.55 * theta_max, 2.4),
                  ha="center", fontsize=8, arrowprops={"arrowstyle": "->", "color": "grey"})
    left.set_ylim(0, top * 1.08)
    left.set_xlabel("θ (horizontal shift of Q)")
    left.set_ylabel("divergence / distance (nats, or units of x)")
    left.set_title("Only W1 changes continuously with θ")
    left.legend(fontsize=7.5, loc="center right", bbox_to_anchor=(1.0, 0.45))

    for theta_value, series in growth.items():
        style = "-o" if theta_value != 0 else ":s"
        right.plot(series["n"], series["kl"], style, ms=4, color=_COLOURS["kl"], label=f"KL estimate, θ={theta_value:g}")
        right.plot(series["n"], series["js"], style, ms=4, color=_COLOURS["js"], label=f"JS estimate, θ={theta_value:g}")
    right.axhline(math.log(2.0), ls="--", color=_COLOURS["js"], lw=1, label="log 2")
    right.set_xscale("log")
    right.set_xlabel("samples per distribution n (log scale)")
    right.set_ylabel("estimate (nats)")
    right.set_title("Separated supports: KL estimate grows like log n")
    right.legend(fontsize=7.5)
    return figure


def plot_critic(results: dict[str, np.ndarray]) -> plt.Figure:
    """The trained critic's W1 estimate and the exact OT value against the closed form |theta|."""
    figure, axis = plt.subplots(figsize=(5.5, 4.2), constrained_layout=True)
    theta = results["theta"]
    axis.plot(theta, results["w1_exact"], "--", color="black", label="closed form |θ|")
    axis.plot(theta, results["w1"], "o", ms=4, mfc="none", color=_COLOURS["w1"], label="exact OT on samples")
    axis.plot(theta, results["critic_w1"], "-o", ms=4, color=_COLOURS["critic"],
              label="WGAN-GP critic: E_P[f] − E_Q[f]")
    axis.set_xlabel("θ (horizontal shift of Q)")
    axis.set_ylabel("W1 estimate")
    axis.set_title("A WGAN-GP critic tracks |θ|")
    axis.legend(fontsize=8)
    return figure


# ---------------------------------------------------------------------------------------------- command


@dataclass
class TheoryArguments:
    """``python -m ssgen.reporting.theory``'s arguments (``ssgen.cli.parse``)."""

    out: str = argument("outputs/theory", help="folder for the two PNGs")
    n_theta: int = argument(21, help="thetas evenly spaced in [-theta_max, theta_max]; odd includes 0")
    theta_max: float = argument(1.0, help="the largest horizontal shift of Q")
    samples: int = argument(400, help="samples per distribution for each theta")
    critic_steps: int = argument(300, help="Adam steps per WGAN-GP critic")
    seed: int = argument(0, help="seeds the samples and the critics")
    dpi: int = argument(120, help="resolution of the PNGs")


LEGACY = Legacy(options={"--out": "out", "--n-theta": "n_theta", "--theta-max": "theta_max", "--samples": "samples",
                         "--critic-steps": "critic_steps", "--seed": "seed", "--dpi": "dpi"})


def main(argv: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Run the sweep, print a table and write both figures under ``out``; returns the sweep results."""
    program = "python -m ssgen.reporting.theory"
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(arg in ("-h", "--help", "help") for arg in argv):
        print(help_text(program, __doc__.split("\n\n")[0], TheoryArguments,
                        [f"{program}", f"{program} out=outputs/theory samples=1000", f"{program} n_theta=11 seed=1"],
                        docs="docs/theory.md"))
        return {}
    args = parse(argv, TheoryArguments, program, LEGACY)
    out = Path(args.out)

    thetas = np.linspace(-args.theta_max, args.theta_max, args.n_theta)
    results = sweep(thetas, n_samples=args.samples, seed=args.seed, critic_steps=args.critic_steps)
    sizes = np.unique(np.geomspace(50, 20 * args.samples, 6).astype(int))
    growth = {theta: sample_size_growth(theta, sizes, seed=args.seed) for theta in (0.5, 0.0)}

    print(f"{'theta':>7} {'KL est':>8} {'JS est':>8} {'W1 OT':>8} {'critic':>8} {'|theta|':>8}")
    for row in range(len(thetas)):
        print(f"{results['theta'][row]:7.2f} {results['kl'][row]:8.3f} {results['js'][row]:8.4f} "
              f"{results['w1'][row]:8.4f} {results['critic_w1'][row]:8.4f} {results['w1_exact'][row]:8.4f}")
    for theta, series in growth.items():
        print(f"theta={theta:g}: n={series['n'].tolist()} KL={np.round(series['kl'], 3).tolist()} "
              f"JS={np.round(series['js'], 4).tolist()}")

    for name, figure in ((PARALLEL_LINES_FIGURE, plot_parallel_lines(results, growth, args.samples)),
                         (CRITIC_FIGURE, plot_critic(results))):
        path = save_figure(figure, out / name, dpi=args.dpi)
        plt.close(figure)
        print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
