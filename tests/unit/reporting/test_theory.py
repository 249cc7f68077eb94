"""The parallel-lines example (ssgen.reporting.theory): estimates against the closed forms, and the figure command."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from ssgen.reporting import theory

# POT is the theory companion's optional extra (pip install -e '.[theory]'); without it these skip cleanly
needs_pot = pytest.mark.skipif(importlib.util.find_spec("ot") is None, reason="POT not installed: pip install pot")


def _samples(theta: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return theory.sample_p(n, rng), theory.sample_q(n, theta, rng)


def test_samples_lie_on_the_two_lines():
    p, q = _samples(0.7, 100, seed=0)
    assert p.shape == q.shape == (100, 2)
    assert np.all(p[:, 0] == 0.0) and np.all(q[:, 0] == 0.7)
    assert np.all((p[:, 1] >= 0) & (p[:, 1] <= 1)) and np.all((q[:, 1] >= 0) & (q[:, 1] <= 1))


def test_closed_form_is_zero_at_theta_zero_and_jumps_elsewhere():
    assert theory.closed_form(0.0) == {"kl": 0.0, "js": 0.0, "w1": 0.0}
    for theta in (-0.3, 1e-6, 2.0):
        exact = theory.closed_form(theta)
        assert exact["kl"] == math.inf
        assert exact["js"] == pytest.approx(math.log(2.0))
        assert exact["w1"] == pytest.approx(abs(theta))


@needs_pot
@pytest.mark.parametrize("theta", [-0.75, 0.25, 0.5, 1.0, 2.0])
def test_w1_exact_is_within_two_percent_of_abs_theta(theta):
    # The independent y's add roughly 1 / (6 n |theta|) to the empirical W1: about 0.4% at theta = 0.25, n = 600.
    p, q = _samples(theta, 600, seed=1)
    assert theory.w1_exact(p, q) == pytest.approx(abs(theta), rel=0.02)


@needs_pot
def test_w1_exact_matches_a_hand_checked_transport():
    # Two points each, optimal plan pairs equal y's: cost (0.5 + 0.5) / 2 per unit of mass.
    p = np.array([[0.0, 0.1], [0.0, 0.9]])
    q = np.array([[0.5, 0.9], [0.5, 0.1]])
    assert theory.w1_exact(p, q) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("theta", [-1.0, 0.1, 0.5])
def test_js_is_log_two_for_separated_supports(theta):
    p, q = _samples(theta, 300, seed=2)
    assert abs(theory.js_estimate(p, q) - math.log(2.0)) < 0.05


def test_js_and_kl_are_near_zero_at_theta_zero():
    p, q = _samples(0.0, 300, seed=3)
    assert 0.0 <= theory.js_estimate(p, q) < 0.05
    assert abs(theory.kl_estimate(p, q)) < 0.1


def test_kl_plug_in_is_infinite_and_smoothed_kl_grows_with_n_for_separated_supports():
    p, q = _samples(0.5, 300, seed=4)
    assert theory.kl_estimate(p, q, pseudo_count=0.0) == math.inf
    small = theory.kl_estimate(*_samples(0.5, 100, seed=5))
    large = theory.kl_estimate(*_samples(0.5, 3000, seed=5))
    # Disjoint supports: the smoothed estimate rises by about log(30) nats for 30x the samples.
    assert large - small > 2.5


def test_trained_critic_estimate_increases_with_theta():
    estimates = [theory.train_critic_w1(theta, n_samples=128, steps=150, seed=0) for theta in (0.0, 0.5, 1.0)]
    assert estimates[0] < estimates[1] < estimates[2]
    assert abs(estimates[0]) < 0.1
    # A soft gradient penalty lets the linear optimum steepen to slope 1 + theta / (2 lambda), so WGAN-GP
    # converges to theta * (1 + theta / (2 lambda)), not theta: that is the target, with 10% for Adam noise.
    for theta, estimate in zip((0.5, 1.0), estimates[1:], strict=True):
        assert estimate == pytest.approx(theta * (1 + theta / (2 * 10.0)), rel=0.1)


def test_train_critic_leaves_global_torch_state_alone():
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    theory.train_critic_w1(0.5, n_samples=16, steps=2)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


@pytest.mark.slow
@needs_pot
def test_main_writes_both_figures(tmp_path, capsys):
    results = theory.main([f"out={tmp_path}", "n_theta=5", "samples=300", "critic_steps=60"])
    for name in (theory.PARALLEL_LINES_FIGURE, theory.CRITIC_FIGURE):
        path = tmp_path / name
        assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp*")), "atomic write left a temp file behind"
    np.testing.assert_allclose(results["theta"], [-1.0, -0.5, 0.0, 0.5, 1.0])
    assert "wrote" in capsys.readouterr().out
