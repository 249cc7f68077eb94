"""The M1 loss: the -ELBO pieces, and free bits flooring each unit's KL without changing the reported KL."""

from __future__ import annotations

import torch

from ssgen.losses import gaussian_kl, negative_elbo


def test_negative_elbo_matches_hand_computed_terms():
    logits, target = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    mean, log_var = torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.zeros(2, 2)
    loss, reconstruction, kl = negative_elbo(logits, target, mean, log_var)
    assert torch.isclose(reconstruction, torch.tensor(4 * torch.log(torch.tensor(2.0)).item()))  # 4 pixels at p=1/2
    assert torch.isclose(kl, torch.tensor(0.25))  # 0.5 * 1^2 in one sample of two
    assert torch.isclose(kl, gaussian_kl(mean, log_var).mean())
    assert torch.isclose(loss, reconstruction + kl)


def test_free_bits_floor_each_unit_but_report_the_true_kl():
    logits, target = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    mean, log_var = torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.zeros(2, 2)  # unit KLs: 0.25 and 0
    plain, reconstruction, kl = negative_elbo(logits, target, mean, log_var)
    floored, _, kl_floored = negative_elbo(logits, target, mean, log_var, free_bits=0.5)
    assert torch.equal(kl, kl_floored)
    assert torch.isclose(floored, reconstruction + 0.5 + 0.5)  # both units lifted to the floor
    mean.requires_grad_(True)
    loss, _, _ = negative_elbo(logits, target, mean, log_var, free_bits=0.5)
    loss.backward()
    assert torch.all(mean.grad == 0)  # below the floor the optimiser gains nothing by shrinking a unit
