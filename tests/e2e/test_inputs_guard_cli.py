"""Issue 39, item 5, through the real console scripts: no command writes over its own input, compared by file
identity, not spelling. Before, ``ssgen-predict images=batch.npz out=batch.npz`` replaced the user's images with a
labels-only file, exit 0, no warning."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_script
from records_e2e import error_lines, sample_images, untrained_checkpoint


@pytest.mark.slow  # a checkpoint built and loaded: ~12 s
def test_predict_refuses_an_out_that_is_its_images(tmp_path):
    images = sample_images(tmp_path / "batch.npz")
    model = untrained_checkpoint(tmp_path / "m2.ckpt")
    before = images.read_bytes()
    result = run_script("ssgen-predict", f"run={model}", "images=batch.npz", "out=./batch.npz", cwd=tmp_path)
    assert result.returncode == 2
    assert error_lines(result.stderr) == ["ssgen-predict: error: out=./batch.npz is images=batch.npz, which this command "
                                          "reads; writing it would replace that input: give out= another path"]
    assert images.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["batch.npz", "m2.ckpt"]


@pytest.mark.slow
def test_every_output_of_every_command_is_checked_against_what_it_reads(tmp_path):
    model = untrained_checkpoint(tmp_path / "model.npz")  # any name: the checkpoint is an input whatever it is called
    os.link(model, tmp_path / "hard.ckpt")
    (tmp_path / "link.npz").symlink_to(model)
    before = model.read_bytes()

    generate = run_script("ssgen-generate", f"run={model}", "label=dress", "n=2", f"npz={tmp_path / 'link.npz'}")
    assert generate.returncode == 2 and error_lines(generate.stderr) == [
        f"ssgen-generate: error: npz={tmp_path / 'link.npz'} is the checkpoint {model}, which this command reads; writing "
        "it would replace that input: give npz= another path"]
    export = run_script("ssgen-export", f"run={model}", f"out={tmp_path / 'hard.ckpt'}")
    assert export.returncode == 2 and "is the checkpoint being copied" in error_lines(export.stderr)[0]
    evaluate = run_script("ssgen-evaluate", f"run={tmp_path / 'hard.ckpt'}", f"out={model}", "n_samples=20")
    assert evaluate.returncode == 2 and error_lines(evaluate.stderr)[0].startswith(f"ssgen-evaluate: error: out={model} is ")
    assert model.read_bytes() == before

    sweep = tmp_path / "sweep"
    (sweep / "0").mkdir(parents=True)
    record = sweep / "0" / "results.json"
    record.write_text(json.dumps({"status": "ok", "method": "dcgan", "family": "gan", "arch": "dcgan", "seed": 0,
                                  "fid": 10.0}))
    report = run_script("ssgen-report", "gan", f"runs={sweep}", f"out={sweep}/./0/results.json")
    assert report.returncode == 2 and error_lines(report.stderr) == [
        f"ssgen-report: error: out={sweep}/./0/results.json is a record under runs={sweep}, which this command reads; "
        "writing it would replace that input: give out= another path"]
    assert json.loads(record.read_text())["fid"] == 10.0

    study = run_script("ssgen-study", "writeup", "budget=debug", f"dir={tmp_path / 'study'}", f"records={tmp_path / 'study' / 'm1'}",
                 "dry_run=true")
    assert study.returncode == 2 and error_lines(study.stderr) == [
        f"ssgen-study: error: records={tmp_path / 'study' / 'm1'} is {tmp_path / 'study' / 'm1'}, where the study's runs "
        "are (or inside it); records would be written over the runs they record: give records= a dir of its own "
        "(default <dir>/records)"]


@pytest.mark.slow
def test_no_command_writes_over_a_file_of_the_run_it_reads(m1_run, tmp_path):
    """Not only the file a command opens: every file of its run. ``ssgen-export out=<run>/checkpoints/last.ckpt``
    used to replace what a resume needs with a weights-only copy; ``ssgen-predict out=<run>/checkpoints/graph_nodes.npz``
    the graph the run's heads classify on."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(m1_run, run)
    shutil.copy(run / "checkpoints" / "last.ckpt", run / "checkpoints" / "best.ckpt")  # export copies best.ckpt
    files = {path: path.read_bytes() for path in (run / "checkpoints").iterdir() if path.is_file()}
    export = run_script("ssgen-export", f"run={run}", f"out={run / 'checkpoints' / 'last.ckpt'}")
    assert export.returncode == 2 and error_lines(export.stderr) == [
        f"ssgen-export: error: out={run / 'checkpoints' / 'last.ckpt'} is a file of the run {run}, which this command "
        "reads; writing it would replace that input: give out= another path"]
    images = sample_images(tmp_path / "batch.npz")
    predict = run_script("ssgen-predict", f"run={run}", f"images={images}", f"out={run / 'checkpoints' / 'graph_nodes.npz'}")
    assert predict.returncode == 2 and "is a file of the run" in error_lines(predict.stderr)[0]
    assert {path: path.read_bytes() for path in files} == files
    fresh = run_script("ssgen-predict", f"run={run}", f"images={images}", f"out={run / 'predicted.npz'}")
    assert fresh.returncode == 0, fresh.stderr  # a new file beside the run's own is not one of its inputs


@pytest.mark.slow
def test_a_resume_from_a_weights_only_copy_is_one_line(m1_run, tmp_path):
    """ssgen-export's copy has no optimizer state: Lightning raised a KeyError traceback mid-restore and left the
    run ``failed``; now the resume is refused before anything is written."""
    copy = tmp_path / "weights.ckpt"
    assert run_script("ssgen-export", f"run={m1_run}", f"out={copy}").returncode == 0
    result = run_script("ssgen-train", "arch=vae_mlp", "trainer.max_epochs=1", "+trainer.limit_train_batches=30",
                        "method.callbacks.svm_head=null", f"ckpt_path={copy}", f"hydra.run.dir={tmp_path / 'resumed'}",
                        "torch_threads=1")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert error_lines(result.stderr) == [
        f"ssgen-train: error: {copy} is a weights-only copy (ssgen-export): it loads for inference and as "
        "method.m1_checkpoint but holds no optimizer state to resume from; resume from the run's own "
        "checkpoints/last.ckpt, or give a new hydra.run.dir to train afresh"]
    assert not (tmp_path / "resumed" / "results.json").exists()
