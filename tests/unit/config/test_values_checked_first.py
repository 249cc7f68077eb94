"""Every value is checked before anything is made (issue 39, item 6): seeds outside 0 .. 2**32 - 1 anywhere in the
config, values only a callback's constructor refused, thread counts, and matmul precisions are one
line from ``validate`` (which PreflightChecks runs on every job of a sweep before the first starts)."""

from __future__ import annotations

import pytest
from conftest import FAST, compose_config

from ssgen.config.validation import validate
from ssgen.errors import ConfigError


@pytest.mark.parametrize(("overrides", "message"), [
    (["seed=-1"], "seed=-1 is not a seed; use an integer from 0 to 4294967295 (2**32 - 1)"),
    (["seed=4294967296"], "seed=4294967296 is not a seed; use an integer from 0 to 4294967295 (2**32 - 1)"),
    (["seed=4294967295", "restarts=1"], "seed=4294967295 with restarts=1 would restart with seed 4294967296, past "
                                        "4294967295; use a smaller seed or fewer restarts"),
    (["method=wgan_gp", "arch=dcgan", "method.callbacks.quality.seed=-3"],
     "method.callbacks.quality.seed=-3 is not a seed; use an integer from 0 to 4294967295 (2**32 - 1)"),
    (["callbacks.last_checkpoint.every_n_train_steps=-1"],
     "callbacks.last_checkpoint: every_n_train_steps and every_n_epochs must be >= 0"),
    (["method=wgan_gp", "arch=dcgan", "method.callbacks.quality.n_samples=5"],
     "method.callbacks.quality: GenerativeMetrics n_samples=5 is too small for FID/KID; use at least 20"),
    (["torch_threads=0"], "torch_threads=0 must be >= 1 (CPU threads), or null for torch's default"),
    (["data.eval_batch_size=0"], "data.eval_batch_size=0 must be > 0; use e.g. 1000"),
    (["matmul_precision=fastest"], "matmul_precision=fastest is unknown; use one of highest, high, medium, or null"),
    (["method.callbacks.svm_head.graph_k=0"], "method.callbacks.svm_head.graph_k=0 must be a neighbour count >= 1 or a "
                                              "non-empty list of them, e.g. graph_k=10 or 'graph_k=[10,20]'"),
])
def test_a_value_that_would_fail_after_the_run_dir_is_made_is_refused_first(tmp_path, overrides, message):
    with pytest.raises(ConfigError) as error:
        validate(compose_config([*FAST, f"run_dir={tmp_path / 'run'}", *overrides]))
    assert str(error.value) == message
    assert not (tmp_path / "run").exists()


def test_the_largest_seed_is_a_seed(tmp_path):
    validate(compose_config([*FAST, f"run_dir={tmp_path / 'run'}", "seed=4294967295"]))


@pytest.mark.parametrize("graph_k", ["10", "[10,20]"])
def test_graph_k_is_one_neighbour_count_or_a_list(tmp_path, graph_k):
    """``graph_k=10`` used to pass the check and fail after training with "'int' object is not iterable"."""
    from ssgen.callbacks.svm_head import SVMHead

    cfg = compose_config([*FAST, f"run_dir={tmp_path / 'run'}", f"method.callbacks.svm_head.graph_k={graph_k}"])
    validate(cfg)
    head = SVMHead(graph_k=cfg.method.callbacks.svm_head.graph_k)
    assert head.graph_k == ((10,) if graph_k == "10" else (10, 20))
