"""Config tree: every method x arch composes; bad values fail before training with one clear line."""

from __future__ import annotations

import pytest
from conftest import compose_config
from hydra.errors import ConfigCompositionException

from ssgen.config.validation import validate
from ssgen.errors import ConfigError

GAN_METHODS = ["dcgan", "wgan_clip", "wgan_gp"]
GAN_ARCHS = ["dcgan", "mlp_generator", "dcgan_softplus"]


@pytest.mark.parametrize("method", GAN_METHODS)
@pytest.mark.parametrize("arch", GAN_ARCHS)
def test_every_gan_combination_composes_and_validates(method, arch):
    cfg = compose_config([f"method={method}", f"arch={arch}", "data.n_labels=all", "run_dir=/tmp/x"])
    validate(cfg)
    assert cfg.method.name == method and cfg.arch.name == arch and cfg.data.pixel_range == "symmetric"


def test_m1_default_composes():
    cfg = compose_config(["run_dir=/tmp/x"])
    validate(cfg)
    assert (cfg.method.name, cfg.arch.name, cfg.data.pixel_range, cfg.data.seed) == ("m1", "vae_conv", "unit", 0)


@pytest.mark.parametrize("method", GAN_METHODS)
def test_each_gan_method_picks_its_default_arch(method):
    assert compose_config([f"method={method}", "run_dir=/tmp/x"]).arch.name == "dcgan"


def test_method_defaults_from_the_papers():
    wgan_gp = compose_config(["method=wgan_gp", "run_dir=/tmp/x"]).method
    assert (wgan_gp.lr_critic, wgan_gp.n_critic, wgan_gp.gp_lambda, wgan_gp.critic_norm) == (1e-4, 5, 10.0, "layer")
    wgan_clip = compose_config(["method=wgan_clip", "run_dir=/tmp/x"]).method
    assert (wgan_clip.lr_critic, wgan_clip.clip, wgan_clip.n_critic) == (5e-5, 0.01, 5)
    dcgan = compose_config(["method=dcgan", "run_dir=/tmp/x"]).method
    assert (dcgan.lr_generator, dcgan.beta1, dcgan.n_critic) == (2e-4, 0.5, 1)


def test_unknown_method_fails_at_compose():
    with pytest.raises(ConfigCompositionException, match="method/nope"):
        compose_config(["method=nope"])


def test_typo_and_wrong_type_fail_at_compose():
    with pytest.raises(ConfigCompositionException, match="lrr"):
        compose_config(["method.lrr=1"])
    with pytest.raises(ConfigCompositionException, match="seed"):
        compose_config(["seed=abc"])


@pytest.mark.parametrize("overrides, fragment", [
    (["data.n_labels=105"], "multiple of 10"),
    (["data.n_labels=-10"], "negative"),
    (["data.n_labels=70000"], "exceeds"),
    (["data.n_labels=1.5"], "not an integer"),
    (["method.lr=0"], "method.lr=0.0 must be > 0"),
    (["method.kl_weight=-1"], "kl_weight"),
    (["method=wgan_gp", "method.n_critic=0", "data.n_labels=all"], "n_critic"),
    (["method=wgan_clip", "method.clip=0", "data.n_labels=all"], "clip"),
    (["method=wgan_clip", "method.lr_critic=-1e-4", "data.n_labels=all"], "lr_critic"),
    (["method=wgan_gp", "method.critic_norm=batch", "data.n_labels=all"], "gradient penalty"),
    (["method=wgan_gp", "data.n_labels=0"], "n_labels=0"),
    (["method=dcgan", "method.ema_decay=1"], "ema_decay=1.0 must lie in"),
    (["method=m1", "arch=dcgan"], "arch=dcgan is a gan architecture"),
    (["method=dcgan", "arch=vae_mlp", "data.n_labels=all"], "needs a gan one"),
    (["trainer.max_epochs=0"], "max_epochs"),
    # the trainer group is Lightning's free-form kwargs: a wrong type or a typo must not reach Trainer(...) as a crash
    (["trainer.max_epochs=abc"], r"trainer.max_epochs='abc' must be int or null"),
    (["+trainer.max_epoch=5"], "trainer.max_epoch is not an argument of Lightning's Trainer; did you mean trainer.max_epochs"),
    (["+trainer.limit_train_batches=some"], "trainer.limit_train_batches='some' must be float or int or null"),
    (["trainer.enable_progress_bar=maybe"], "trainer.enable_progress_bar='maybe' must be bool or null"),
    (["trainer.deterministic=maybe"], "trainer.deterministic='maybe' must be 'warn' or bool or null"),
    (["trainer.max_epochs=1.5"], "trainer.max_epochs=1.5 must be int or null"),
    (["data.batch_size=0"], "batch_size"),
])
def test_invalid_values_fail_validation_with_one_line(overrides, fragment):
    cfg = compose_config([*overrides, "run_dir=/tmp/x"])
    with pytest.raises(ConfigError, match=fragment) as error:
        validate(cfg)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("overrides, fragment", [
    (["method=m2", "arch=m1_m2_mlp"], "needs arch=m2_mlp"),
    (["method=m1_m2"], "needs method.m1_checkpoint"),
    (["method=m2", "data.n_labels=0"], "semi-supervised but data.n_labels=0"),
    (["method=m2", "method.lr=0"], "method.lr"),
])
def test_semi_supervised_values_checked(overrides, fragment):
    cfg = compose_config([*overrides, "run_dir=/tmp/x"])
    with pytest.raises(ConfigError, match=fragment):
        validate(cfg)


@pytest.mark.parametrize("method", ["m2", "m1_m2"])
def test_semi_supervised_methods_compose(method, m1_checkpoint):
    extra = [f"method.m1_checkpoint={m1_checkpoint}"] if method == "m1_m2" else []
    cfg = compose_config([f"method={method}", "run_dir=/tmp/x", *extra])
    validate(cfg)
    assert cfg.arch.family == "semi"


def test_wrong_family_error_lists_every_arch_file_of_the_family(tmp_path):
    from ssgen.config.files import ARCH_DIR, arch_names

    # the real conf/arch: both M1 archs are offered when a GAN arch is given to M1
    cfg = compose_config(["method=m1", "arch=dcgan", "run_dir=/tmp/x"])
    with pytest.raises(ConfigError, match="choose arch from: vae_conv, vae_mlp$"):
        validate(cfg)
    # a new arch file is listed with no code change
    for path in ARCH_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "vae_deep.yaml").write_text("defaults:\n  - base_arch\nname: vae_deep\nfamily: vae\n")
    assert arch_names("vae", tmp_path) == ["vae_conv", "vae_deep", "vae_mlp"]
    assert arch_names("gan", tmp_path) == ["dcgan", "dcgan_softplus", "mlp_generator"]


@pytest.mark.parametrize("native", [True, False])
def test_a_gan_defaults_to_bf16_where_native_and_an_explicit_precision_is_kept(monkeypatch, native):
    import ssgen.run.lifecycle

    monkeypatch.setattr(ssgen.run.lifecycle, "bf16_pays", lambda accelerator: native)
    cfg = compose_config(["method=dcgan", "run_dir=/tmp/x"])
    assert cfg.trainer.precision == "bf16-mixed"  # the method's default_precision
    ssgen.run.lifecycle.device_precision(cfg)
    assert cfg.trainer.precision == ("bf16-mixed" if native else "32-true")
    typed = compose_config(["method=dcgan", "trainer.precision=bf16-mixed", "run_dir=/tmp/x"])
    ssgen.run.lifecycle.device_precision(typed)
    assert typed.trainer.precision == "bf16-mixed"  # asked for on the command line: forced even where emulated
    m1 = compose_config(["run_dir=/tmp/x"])
    ssgen.run.lifecycle.device_precision(m1)
    assert m1.trainer.precision == "32-true"


def test_a_resumed_run_keeps_the_precision_it_trained_in(tmp_path, monkeypatch):
    """A GAN run from before the bf16 default (no trainer_precision in results.json) or one that trained in
    32-true resumes in 32-true, even where bf16 pays; a fresh run dir gets the default."""
    import json

    import ssgen.run.lifecycle

    monkeypatch.setattr(ssgen.run.lifecycle, "bf16_pays", lambda accelerator: True)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    for record, expected in (({"status": "interrupted"}, "32-true"), ({"trainer_precision": "32-true"}, "32-true"),
                             ({"trainer_precision": "bf16-mixed"}, "bf16-mixed")):
        (tmp_path / "results.json").write_text(json.dumps(record))
        cfg = compose_config(["method=dcgan", f"run_dir={tmp_path}"])
        ssgen.run.lifecycle.device_precision(cfg)
        assert cfg.trainer.precision == expected, record
    fresh = compose_config(["method=dcgan", f"run_dir={tmp_path / 'new'}"])
    ssgen.run.lifecycle.device_precision(fresh)
    assert fresh.trainer.precision == "bf16-mixed"


@pytest.mark.parametrize("precision", ["bf16-true", "16-true", "nonsense", "64"])
def test_a_precision_ssgen_cannot_train_in_is_refused_in_one_line(precision):
    cfg = compose_config(["method=dcgan", f"trainer.precision={precision}", "run_dir=/tmp/x"])
    with pytest.raises(ConfigError, match=f"trainer.precision={precision} is not one ssgen trains in; use one of 32-true"):
        validate(cfg)
