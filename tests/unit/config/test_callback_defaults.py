"""Each default lives once: an ssgen callback's schema is its class's signature, and conf/callbacks/ repeats none of it."""

from __future__ import annotations

import dataclasses
import inspect

import hydra
import pytest
import yaml
from conftest import compose_config
from hydra.core.config_store import ConfigStore

from ssgen.config.files import CONF_DIR, callback_targets
from ssgen.config.schemas import constructor_parameters, register_configs

OURS = {stem: (key, target) for stem, (key, target) in callback_targets().items() if target.startswith("ssgen.")}


def test_every_ssgen_callback_yaml_is_found():
    assert set(OURS) == {"quality", "failed_convergence", "last_checkpoint", "svm_head", "thread_budget", "test_score"}


@pytest.mark.parametrize("stem", sorted(OURS))
def test_the_callback_schema_is_the_class_signature(stem):
    key, target = OURS[stem]
    register_configs()
    node = ConfigStore.instance().load(f"callbacks/base_{stem}.yaml").node[key]
    schema = dataclasses.fields(node._metadata.object_type)
    signature = constructor_parameters(hydra.utils.get_class(target))
    assert [field.name for field in schema] == ["_target_", *signature]  # same keys, same order
    for field in schema[1:]:
        default = field.default if field.default_factory is dataclasses.MISSING else field.default_factory()
        expected = signature[field.name].default
        expected = list(expected) if isinstance(expected, tuple) else expected
        assert default == expected or expected is inspect.Parameter.empty, field.name


@pytest.mark.parametrize("stem", sorted(OURS))
def test_the_callback_yaml_names_its_schema_and_sets_no_default_of_the_class(stem):
    key, target = OURS[stem]
    spec = yaml.safe_load((CONF_DIR / "callbacks" / f"{stem}.yaml").read_text())
    assert spec["defaults"][0] == f"base_{stem}"
    signature = constructor_parameters(hydra.utils.get_class(target))
    repeated = [name for name, value in spec[key].items() if name in signature and value == signature[name].default]
    assert not repeated, f"{stem}.yaml repeats the class defaults of {repeated}"


def test_the_composed_callback_configs_are_what_they_were():
    """The values conf/callbacks/*.yaml gave before the schemas were derived from the classes."""
    gan = compose_config(["method=wgan_gp", "run_dir=/tmp/unused"])
    quality, stop = gan.method.callbacks.quality, gan.method.callbacks.failed_convergence
    assert (quality.every_n_epochs, quality.n_samples, quality.final_n_samples) == (1, 2000, 10000)
    assert {name: stop[name] for name in ("check_every_n_batches", "read_every_n_batches", "max_abs_critic_loss",
                                          "explode_patience", "collapse_std", "collapse_min_batches", "metric_key",
                                          "metric_mode", "metric_patience", "metric_min_delta",
                                          "metric_fail_worse_than", "partial_collapse_spread")} == {
        "check_every_n_batches": 1, "read_every_n_batches": None, "max_abs_critic_loss": 1.0e4, "explode_patience": 20,
        "collapse_std": 0.005, "collapse_min_batches": 500, "metric_key": "metrics/fid", "metric_mode": "min",
        "metric_patience": 4, "metric_min_delta": 0.0, "metric_fail_worse_than": 50.0, "partial_collapse_spread": 0.5}
    assert compose_config(["method=dcgan", "run_dir=/tmp/unused"]).method.callbacks.failed_convergence.explode_patience == 50
    m1 = compose_config(["run_dir=/tmp/unused"])
    head, every_run = m1.method.callbacks.svm_head, m1.callbacks
    assert {name: head[name] for name in ("cv_folds", "transductive", "raw_pixel_baseline", "n_unlabelled",
                                          "active_units_only", "n_jobs")} == {
        "cv_folds": 5, "transductive": False, "raw_pixel_baseline": True, "n_unlabelled": 10000,
        "active_units_only": False, "n_jobs": None}  # label spreading is retired: off
    assert head.n_labels == [100, 600, 1000, 3000] and head.headline == 100 and head.seed == 0 and head.mirror is False
    assert (every_run.last_checkpoint.dirpath, every_run.last_checkpoint.every_n_train_steps,
            every_run.last_checkpoint.every_n_epochs) == ("/tmp/unused/checkpoints", 500, 1)
    assert every_run.thread_budget.check_every_s == 2.0 and every_run.thread_budget.fixed_threads is None


def test_a_mistyped_callback_key_fails_at_compose_time():
    with pytest.raises(Exception, match="method.callbacks.quality.n_sample"):
        compose_config(["method=dcgan", "method.callbacks.quality.n_sample=1", "run_dir=/tmp/unused"])
