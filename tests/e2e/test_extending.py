"""docs/extending.md followed as written: a new GAN method, a new architecture and a new data set, one module and one
YAML each.

The package and its configs are copied into ``tmp_path``, the page's code blocks are written into that copy (into
``ssgen/models`` and ``ssgen/nets``, where the checkpoint gate admits them), and the page's commands run there as
real subprocesses with the copy first on PYTHONPATH: the checkout itself is never written to (a read-only or
shared checkout runs this test too). Slow: nine console-script runs, the bench among them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, plain_table, run_script

PAGE = ROOT / "docs" / "extending.md"
pytestmark = pytest.mark.slow


def page_files() -> dict[Path, str]:
    """Every ```python / ```yaml block of the page whose first line is '# <path>': {path in the project: content}."""
    files = {}
    for _language, body in re.findall(r"```(python|yaml)\n(.*?)```", PAGE.read_text(), flags=re.S):
        first = body.partition("\n")[0]
        if first.startswith("# ") and "/" in first:
            files[Path(first[2:].strip())] = body
    return files


def page_commands(index: int = 0) -> list[str]:
    """The lines of the page's ``index``-th ```bash block, comments dropped."""
    block = re.findall(r"```bash\n(.*?)```", PAGE.read_text(), flags=re.S)[index]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


@pytest.fixture
def project(tmp_path):
    """A copy of the project (ssgen/ and conf/) in tmp_path with the page's files written into it: its root."""
    files = page_files()
    assert {path.as_posix() for path in files} == {
        "ssgen/models/hinge_gan.py", "conf/method/hinge_gan.yaml", "ssgen/nets/mlp_critic.py", "conf/arch/mlp_gan.yaml",
        "ssgen/data/sets/glyphs.py", "conf/data/glyphs.yaml"}
    assert not any((ROOT / path).exists() for path in files), "the page's files must not already be in the package"
    before = sorted((ROOT / "ssgen").rglob("*.py"))
    root = tmp_path / "project"
    for folder in ("ssgen", "conf"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for path, content in files.items():
        (root / path).write_text(content)
    yield root
    assert sorted((ROOT / "ssgen").rglob("*.py")) == before  # the checkout was not written to


def shell(command: str, project: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``command`` run in the copied project, whose ssgen (and so its conf/) console scripts import first."""
    return run_script("/bin/sh", "-c", command, timeout=timeout, cwd=project, env={"PYTHONPATH": str(project)})


def test_the_how_to_works_as_written(project, tmp_path, tiny_evaluator_file):
    commands = page_commands()
    cfg_job, hinge_run, wgan_run, generate, report, bench = commands
    # the FID/KID callback with the tests' tiny evaluator and few samples: every code path, seconds not minutes
    small = (f" method.callbacks.quality.evaluator={tiny_evaluator_file} method.callbacks.quality.n_samples=100"
             " method.callbacks.quality.final_n_samples=200")

    result = shell(cfg_job, project)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "_target_: ssgen.models.hinge_gan.HingeGAN" in result.stdout

    for command, name in ((hinge_run, "hinge"), (wgan_run, "wgan")):
        run = shell(f"{command}{small} hydra.run.dir={tmp_path / 'runs' / name}", project)
        assert run.returncode == 0, run.stderr[-3000:]
        results = json.loads((tmp_path / "runs" / name / "results.json").read_text())
        assert results["status"] == "ok" and results["arch"] == "mlp_gan" and results["optimizer_steps"] > 0
        assert results["family"] == "gan" and "fid" in results
    assert json.loads((tmp_path / "runs" / "hinge" / "results.json").read_text())["method"] == "hinge_gan"

    # the checkpoint gate admits the new classes: generation from the new method's run
    out = tmp_path / "hinge.png"
    result = shell(generate.replace("<run dir>", str(tmp_path / "runs" / "hinge")).replace("out=hinge.png", f"out={out}"), project)
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.stat().st_size > 0

    result = shell(report.replace("<dir holding the runs>", str(tmp_path / "runs")), project)
    assert result.returncode == 0, result.stderr[-2000:]
    table = plain_table(result.stdout)  # a row names the settings that set its runs apart (method.critic_norm=none)
    assert re.search(r"\| hinge_gan( \[[^]]*\])? \| mlp_gan \| 1 \(1\) \|", table), table
    assert re.search(r"\| wgan_gp( \[[^]]*\])? \| mlp_gan \| 1 \(1\) \|", table), table

    figures = shell(f"ssgen-report figures runs={tmp_path / 'runs'} out={tmp_path / 'figures'}", project)
    assert figures.returncode == 0, figures.stderr[-2000:]
    assert (tmp_path / "figures" / "gan_losses_mlp_gan.png").is_file()

    result = shell(bench + " batches=3 warmup=1", project, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| hinge_gan/mlp_gan |" in plain_table(result.stdout)


def test_a_typo_in_the_new_methods_config_fails_at_compose(project):
    """The schema built from HingeGAN's signature refuses unknown keys, as the paper methods' schemas do."""
    result = shell("ssgen-train --cfg job method=hinge_gan method.lrr=1", project)
    assert result.returncode != 0 and "lrr" in result.stderr


def test_adding_a_data_set_works_as_written(project, tmp_path):
    """The page's data set, on IDX files this test writes (noise, labels cycling over its five classes): an M1 run
    scores its SVM head on them, and a GAN run trains and uses the set's own evaluator, cached under its name."""
    import numpy as np

    from ssgen.data import write_idx

    root = tmp_path / "glyphs"
    root.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 500), ("t10k", 100)):  # the counts the page's DatasetInfo gives
        write_idx(root / f"{split}-images-idx3-ubyte", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(root / f"{split}-labels-idx1-ubyte", (np.arange(n) % 5).astype(np.uint8))
    m1_run, gan_run = (command.replace("<dir with the four IDX files>", str(root)) for command in page_commands(1))
    cache = tmp_path / "cache"

    run = shell(f"SSGEN_CACHE={cache} {m1_run} hydra.run.dir={tmp_path / 'm1'}", project)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((tmp_path / "m1" / "results.json").read_text())
    assert results["status"] == "ok" and results["data"]["dataset"] == "glyphs" and results["data"]["verified"] is None
    assert 0 <= results["test_accuracy"] <= 1  # the SVM head, five classes

    small = (" method.callbacks.quality.n_samples=50 method.callbacks.quality.final_n_samples=50"
             " arch.networks.generator.width=8 arch.networks.critic.width=8")
    run = shell(f"SSGEN_CACHE={cache} {gan_run}{small} hydra.run.dir={tmp_path / 'gan'}", project)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((tmp_path / "gan" / "results.json").read_text())
    assert results["status"] == "ok", results["status"]
    assert set(results["per_class_fid"]) == {"circle", "square", "triangle", "cross", "star"}
    evaluators = sorted(path.name for path in (cache / "evaluator").glob("*.safetensors"))
    assert evaluators == [f"glyphs-{results['evaluator_config_hash']}.safetensors"]
