"""A trained model's parts are one version (issue 39, item 4): heads and scores record the weights they were made from
(step and digest), and every loader compares that record with the checkpoint it loads."""

from __future__ import annotations

import json
import os
import time

import pytest
import torch

from ssgen.errors import CheckpointError
from ssgen.models.checkpoints import weights_digest, weights_version
from ssgen.models.heads import check_fitted_on
from ssgen.run.results import recorded_version_problem, unfinished_problem, write_results

FIX = "use the run as it was, or finish training so that the heads are refitted"


def test_the_digest_is_of_the_weights_not_of_their_order_or_storage():
    weights = {"a.weight": torch.arange(6.0).reshape(2, 3), "b.bias": torch.zeros(3, dtype=torch.bfloat16),
               "n": torch.tensor(5)}
    digest = weights_digest(weights)
    assert digest == weights_digest(dict(reversed(list(weights.items()))))
    assert digest == weights_digest({**weights, "a.weight": weights["a.weight"].t().contiguous().t()})
    changed = {**weights, "b.bias": torch.tensor([0.0, 0.0, 1e-3], dtype=torch.bfloat16)}
    assert weights_digest(changed) != digest and len(digest) == 16
    assert weights_version({"global_step": 7, "state_dict": weights}) == {"global_step": 7, "weights_sha256": digest}


def test_heads_fitted_on_other_weights_are_refused_naming_both_versions(tmp_path):
    record = tmp_path / "checkpoints" / "svm_head.json"
    record.parent.mkdir()
    checkpoint = record.parent / "last.ckpt"
    checkpoint.write_bytes(b"x")
    fitted = {"global_step": 300, "weights_sha256": "aaaaaaaaaaaaaaaa"}
    record.write_text(json.dumps({"fitted_on": fitted}))
    check_fitted_on(record, {"fitted_on": fitted}, checkpoint, dict(fitted), FIX)  # the same version: fine
    loaded = {"global_step": 450, "weights_sha256": "bbbbbbbbbbbbbbbb"}
    with pytest.raises(CheckpointError) as error:
        check_fitted_on(record, {"fitted_on": fitted}, checkpoint, loaded, FIX)
    assert str(error.value) == (f"the heads in {record.parent} were fitted on step 300 (weights aaaaaaaaaaaaaaaa), but "
                                f"{checkpoint} holds step 450 (weights bbbbbbbbbbbbbbbb); pairing them would score other "
                                f"weights than the heads were fitted on: {FIX}")


def test_heads_from_before_the_record_are_compared_by_time(tmp_path):
    record = tmp_path / "svm_head.json"
    record.write_text("{}")
    checkpoint = tmp_path / "last.ckpt"
    checkpoint.write_bytes(b"x")
    os.utime(record, (time.time() - 60, time.time() - 60))  # the heads were written before the checkpoint
    with pytest.raises(CheckpointError, match=r"were fitted before .*last.ckpt was written"):
        check_fitted_on(record, {}, checkpoint, {"global_step": 9, "weights_sha256": "c"}, FIX)
    os.utime(checkpoint, (time.time() - 120, time.time() - 120))
    check_fitted_on(record, {}, checkpoint, {"global_step": 9, "weights_sha256": "c"}, FIX)


def test_a_finished_run_whose_checkpoint_changed_is_refused_and_an_unfinished_one_is_not_a_source(tmp_path):
    run_dir = tmp_path / "m1"
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    recorded = {"global_step": 300, "weights_sha256": "aaaa"}
    newer = {"global_step": 450, "weights_sha256": "bbbb"}
    write_results(run_dir, {"status": "ok", "weights": {"last.ckpt": recorded}})
    assert recorded_version_problem(checkpoint, recorded) is None
    assert "the file changed after the run ended" in recorded_version_problem(checkpoint, newer)
    write_results(run_dir, {"status": "interrupted", "weights": {"last.ckpt": recorded}})
    assert recorded_version_problem(checkpoint, newer) is None  # an unfinished run claims no scores to contradict
    problem = unfinished_problem(checkpoint, newer)
    assert problem.startswith(f"{checkpoint} (step 450 (weights bbbb)) is not a finished model: its run says "
                              "'interrupted'") and problem.endswith("or give a weights-only copy made when it had "
                                                                    "finished (ssgen-export)")
    kept = checkpoint.parent / "finished_step300.ckpt"
    kept.write_bytes(b"x")
    assert unfinished_problem(checkpoint, newer).endswith(f"or give the run as it finished: {kept}")
    assert unfinished_problem(kept, recorded) is None  # the run as it was is a source


def test_m1_m2_records_the_m1_it_froze(m1_checkpoint):
    from conftest import compose_config

    from ssgen.run.build import build_model

    model = build_model(compose_config(["method=m1_m2", f"method.m1_checkpoint={m1_checkpoint}", "run_dir=/tmp/x"]))
    expected = weights_version(torch.load(m1_checkpoint, weights_only=True))
    assert model.built_from == {"method.m1_checkpoint": {"path": str(m1_checkpoint), **expected}}
    assert model.hparams["m1_version"] == expected
