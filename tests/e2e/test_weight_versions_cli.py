"""Issue 39, item 4, through the real console scripts: a finished M1 run is trained on (a larger
trainer.max_epochs, as the README describes) and stopped by SIGTERM, so last.ckpt holds a newer encoder than the SVM
heads were fitted on. Before, ssgen-predict paired them and scored other weights than the heads' (accuracy 0.110
instead of 0.549), exit 0. Now every loader refuses the pair in one line saying what to do; the run as it was
(kept when it was trained on) predicts, M1+M2 refuses the unfinished M1, and once training finishes the heads are
refitted and predict again."""

from __future__ import annotations

import json
import shlex

import pytest
from conftest import run_script
from records_e2e import DEBUG, error_lines, sample_images

M1 = [*[item for item in DEBUG if not item.startswith("method.callbacks.svm_head")], "data.n_labels=20",
      "label_budgets=[20]", "method.callbacks.svm_head.cv_folds=2", "method.callbacks.svm_head.graph_nodes=2000",
      "method.callbacks.svm_head.raw_pixel_baseline=false", "method.callbacks.svm_head.transductive=false"]


@pytest.mark.slow
def test_heads_and_a_newer_encoder_are_never_scored_together(tmp_path):
    run_dir, images = tmp_path / "m1", sample_images(tmp_path / "batch.npz")
    assert run_script("ssgen-train", *M1, f"hydra.run.dir={run_dir}").returncode == 0
    assert run_script("ssgen-predict", f"run={run_dir}", f"images={images}", f"out={tmp_path / 'a.npz'}").returncode == 0
    trained_on = run_script("ssgen-train", *M1, "trainer.max_epochs=2", f"hydra.run.dir={run_dir}",
                      "+callbacks.probe._target_=stop_probe.SignalAtBatch", "+callbacks.probe.at_batch=2")
    assert trained_on.returncode == 2, trained_on.stderr[-3000:]
    kept = run_dir / "checkpoints" / "finished_step5.ckpt"
    assert json.loads((run_dir / "results.json").read_text())["status"] == "interrupted" and kept.is_file()

    refused = run_script("ssgen-predict", f"run={run_dir}", f"images={images}", f"out={tmp_path / 'b.npz'}")
    assert refused.returncode == 2 and not (tmp_path / "b.npz").exists()
    [line] = error_lines(refused.stderr)
    assert line.startswith(f"ssgen-predict: error: the heads in {run_dir / 'checkpoints'} were fitted on step 5 (weights ")
    assert f"but {run_dir / 'checkpoints' / 'last.ckpt'} holds step 8 (weights " in line
    assert f"use the run as it was (run={kept}), or finish training so that the heads are refitted (`ssgen-train " in line

    as_it_was = run_script("ssgen-predict", f"run={kept}", f"images={images}", f"out={tmp_path / 'c.npz'}")
    assert as_it_was.returncode == 0, as_it_was.stderr[-3000:]
    m1_m2 = run_script("ssgen-train", "method=m1_m2", f"method.m1_checkpoint={run_dir}", "experiment=debug",
                 f"hydra.run.dir={tmp_path / 'm1_m2'}")
    assert m1_m2.returncode == 2 and not (tmp_path / "m1_m2").exists()
    [line] = error_lines(m1_m2.stderr)
    assert line.startswith(f"ssgen-train: error: method.m1_checkpoint={run_dir}: {run_dir / 'checkpoints' / 'last.ckpt'} "
                           "(step 8 (weights ") and f"or give the run as it finished: {kept}" in line

    command = json.loads((run_dir / "results.json").read_text())["resume"]
    assert run_script(*shlex.split(command)).returncode == 0  # training finishes: the heads are refitted on step 10
    assert run_script("ssgen-predict", f"run={run_dir}", f"images={images}", f"out={tmp_path / 'd.npz'}").returncode == 0
    stale = run_script("ssgen-predict", f"run={kept}", f"images={images}", f"out={tmp_path / 'e.npz'}")
    assert stale.returncode == 2 and f"use the run's own checkpoint (run={run_dir})" in error_lines(stale.stderr)[0]
