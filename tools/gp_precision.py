"""The WGAN-GP penalty in bf16 autocast against float32, on the default critic and real Fashion-MNIST batches.

    python tools/gp_precision.py                    # about 2 minutes on a 2-core CPU
    python tools/gp_precision.py --train-steps 200 --batches 8

Behind the numbers in docs/design/performance.md ("The gradient penalty's precision"). For the critic of
``method=wgan_gp arch=dcgan`` (its defaults: layer norm, width 64), first as initialised and then after
``--train-steps`` WGAN-GP critic steps in float32 against a fixed generator, it computes on the same weights,
batch and interpolation coefficients:

* ``fp32``: ``ssgen.losses.gradient_penalty`` with autocast off (the reference);
* ``bf16``: the penalty as ssgen computed it before it forced float32: interpolation, the critic's forward on the
  interpolates, the input gradient and its norm all under ``torch.autocast(dtype=bfloat16)``;
* ``ours``: ``ssgen.losses.gradient_penalty`` called under bf16 autocast (what a bf16-mixed run computes now).

and prints, per state, the penalty's relative error and the relative error and cosine of its gradient with respect
to the critic's weights (the only thing the optimiser sees), averaged over ``--batches`` batches, plus the time of
one penalty forward + backward each way. On a CPU without native bf16 the timings are of oneDNN's emulation.
"""

from __future__ import annotations

import argparse
import time

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from ssgen.compat import cpu_has_native_bf16
from ssgen.config.files import CONF_DIR
from ssgen.config.schemas import register_configs
from ssgen.data import load_dataset, to_pixels
from ssgen.losses import critic_wasserstein, gradient_penalty
from ssgen.run.build import build_model


def composed(overrides: list[str]) -> DictConfig:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=overrides)


def penalty_under_bf16(critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor,
                       epsilon: torch.Tensor) -> torch.Tensor:
    """The penalty as computed before float32 was forced: everything under the caller's bf16 autocast."""
    mix = epsilon.view(-1, 1, 1, 1)
    interpolates = (mix * real + (1.0 - mix) * fake).requires_grad_(True)
    scores = critic(interpolates, labels)
    (gradients,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    return (gradients.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


def weight_gradient(critic: torch.nn.Module, penalty: torch.Tensor) -> torch.Tensor:
    gradients = torch.autograd.grad(penalty, list(critic.parameters()), allow_unused=True)
    return torch.cat([g.flatten().float() for g in gradients if g is not None])


def compare(critic: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
            ) -> dict[str, float]:
    totals = {"penalty": 0.0, "bf16 penalty rel. error": 0.0, "bf16 grad rel. error": 0.0, "bf16 grad cosine": 0.0,
              "ours penalty rel. error": 0.0, "ours grad rel. error": 0.0, "ours dtype is float32": 0.0}
    for real, fake, labels, epsilon in batches:
        reference = gradient_penalty(critic, real, fake, labels, epsilon=epsilon)
        reference_grad = weight_gradient(critic, reference)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            old = penalty_under_bf16(critic, real, fake, labels, epsilon)
        old_grad = weight_gradient(critic, old.float())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ours = gradient_penalty(critic, real, fake, labels, epsilon=epsilon)
        ours_grad = weight_gradient(critic, ours)
        totals["penalty"] += reference.item()
        totals["bf16 penalty rel. error"] += abs(old.item() - reference.item()) / reference.item()
        totals["bf16 grad rel. error"] += float((old_grad - reference_grad).norm() / reference_grad.norm())
        totals["bf16 grad cosine"] += float(torch.nn.functional.cosine_similarity(old_grad, reference_grad, dim=0))
        totals["ours penalty rel. error"] += abs(ours.item() - reference.item()) / reference.item()
        totals["ours grad rel. error"] += float((ours_grad - reference_grad).norm() / reference_grad.norm())
        totals["ours dtype is float32"] += float(ours.dtype == torch.float32)
    return {key: value / len(batches) for key, value in totals.items()}


def time_penalty(critic: torch.nn.Module, batch: tuple[torch.Tensor, ...], forced_fp32: bool, repeats: int) -> float:
    real, fake, labels, epsilon = batch
    seconds = []
    for _ in range(repeats + 1):
        began = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            penalty = (gradient_penalty(critic, real, fake, labels, epsilon=epsilon) if forced_fp32
                       else penalty_under_bf16(critic, real, fake, labels, epsilon))
        penalty.float().backward()
        seconds.append(time.perf_counter() - began)
    critic.zero_grad(set_to_none=True)
    return sorted(seconds[1:])[len(seconds[1:]) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-steps", type=int, default=100)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = build_model(composed(["method=wgan_gp", "arch=dcgan", "data.n_labels=all", "run_dir=unused"]))
    critic, generator = model.critic, model.generator
    data = load_dataset()
    images, labels_all = data["train_images"], data["train_labels"]
    generator_rng = torch.Generator().manual_seed(0)

    def batch(size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        index = torch.randint(0, len(images), (size,), generator=generator_rng)
        real = to_pixels(images[index], "symmetric")
        labels = labels_all[index].long()
        with torch.no_grad():
            fake = generator(torch.randn(size, model.latent_dim, generator=generator_rng), labels)
        return real, fake, labels, torch.rand(size, generator=generator_rng)

    fixed = [batch() for _ in range(args.batches)]
    print(f"torch {torch.__version__}, native bf16: {cpu_has_native_bf16()}, "
          f"threads {torch.get_num_threads()}")
    rows = [("initialised", compare(critic, fixed))]
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.0, 0.9))  # wgan_gp's defaults
    for _ in range(args.train_steps):
        real, fake, labels, epsilon = batch()
        loss = (critic_wasserstein(critic(real, labels), critic(fake, labels))
                + 10.0 * gradient_penalty(critic, real, fake, labels, epsilon=epsilon))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    rows.append((f"after {args.train_steps} critic steps", compare(critic, fixed)))
    for state, numbers in rows:
        print(f"{state}: " + ", ".join(f"{key} {value:.4g}" for key, value in numbers.items()))
    old = time_penalty(critic, fixed[0], False, args.repeats)
    new = time_penalty(critic, fixed[0], True, args.repeats)
    print(f"penalty forward+backward, batch 64, median of {args.repeats}: bf16 {old * 1e3:.1f} ms, "
          f"float32 {new * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
