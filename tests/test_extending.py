"""docs/extending.md followed as written: a new GAN method and a new architecture, one module and one YAML each.

The files are copied out of the page's code blocks into the package (where the checkpoint gate admits them),
the page's commands run as real subprocesses, and the files are removed again afterwards.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "extending.md"


def page_files() -> dict[Path, str]:
    """Every ```python / ```yaml block of the page whose first line is '# <path>': {path: content}."""
    files = {}
    for _language, body in re.findall(r"```(python|yaml)\n(.*?)```", PAGE.read_text(), flags=re.S):
        first = body.partition("\n")[0]
        if first.startswith("# ") and "/" in first:
            files[ROOT / first[2:].strip()] = body
    return files


def page_commands() -> list[str]:
    """The lines of the page's ```bash block, comments dropped."""
    block = re.search(r"```bash\n(.*?)```", PAGE.read_text(), flags=re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


@pytest.fixture
def new_method_and_arch():
    files = page_files()
    assert {path.relative_to(ROOT).as_posix() for path in files} == {
        "ssgen/models/hinge_gan.py", "conf/method/hinge_gan.yaml", "ssgen/nets/mlp_critic.py", "conf/arch/mlp_gan.yaml"}
    assert not any(path.exists() for path in files), "the page's files must not already be in the package"
    try:
        for path, content in files.items():
            path.write_text(content)
        yield files
    finally:
        for path in files:
            path.unlink(missing_ok=True)
            for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
                cached.unlink(missing_ok=True)


def shell(command: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(command, shell=True, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_the_how_to_works_as_written(new_method_and_arch, tmp_path, tiny_evaluator_file):
    commands = page_commands()
    cfg_job, hinge_run, wgan_run, generate, report, bench = commands
    # the FID/KID callback with the tests' tiny evaluator and few samples: every code path, seconds not minutes
    small = (f" +method.callbacks.quality.evaluator={tiny_evaluator_file} method.callbacks.quality.n_samples=100"
             " method.callbacks.quality.final_n_samples=200")

    result = shell(cfg_job)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "_target_: ssgen.models.hinge_gan.HingeGAN" in result.stdout

    for command, name in ((hinge_run, "hinge"), (wgan_run, "wgan")):
        run = shell(f"{command}{small} hydra.run.dir={tmp_path / 'runs' / name}")
        assert run.returncode == 0, run.stderr[-3000:]
        results = json.loads((tmp_path / "runs" / name / "results.json").read_text())
        assert results["status"] == "ok" and results["arch"] == "mlp_gan" and results["optimizer_steps"] > 0
        assert results["family"] == "gan" and "fid" in results
    assert json.loads((tmp_path / "runs" / "hinge" / "results.json").read_text())["method"] == "hinge_gan"

    # the checkpoint gate admits the new classes: generation from the new method's run
    out = tmp_path / "hinge.png"
    result = shell(generate.replace("<run dir>", str(tmp_path / "runs" / "hinge")).replace("out=hinge.png", f"out={out}"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.stat().st_size > 0

    result = shell(report.replace("<dir holding the runs>", str(tmp_path / "runs")))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| hinge_gan | mlp_gan | 1 (1) |" in result.stdout and "| wgan_gp | mlp_gan | 1 (1) |" in result.stdout

    figures = shell(f"ssgen-report figures {tmp_path / 'runs'} --out {tmp_path / 'figures'}")
    assert figures.returncode == 0, figures.stderr[-2000:]
    assert (tmp_path / "figures" / "gan_losses_mlp_gan.png").is_file()

    result = shell(bench + " --batches 3 --warmup 1", timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| hinge_gan/mlp_gan |" in result.stdout


def test_a_typo_in_the_new_methods_config_fails_at_compose(new_method_and_arch):
    """The schema built from HingeGAN's signature refuses unknown keys, as the paper methods' schemas do."""
    result = shell("ssgen-train --cfg job method=hinge_gan method.lrr=1")
    assert result.returncode != 0 and "lrr" in result.stderr
