"""trainer.accelerator / trainer.devices that this machine cannot give: one line before any dir is made."""

from __future__ import annotations

import pytest
from conftest import run_script

from ssgen.config import validation
from ssgen.config.validation import check_devices
from ssgen.errors import ConfigError


@pytest.mark.parametrize("accelerator", ["gpu", "cuda", "mps"])
def test_a_gpu_on_a_machine_without_one_is_refused_naming_what_there_is(monkeypatch, accelerator):
    monkeypatch.setattr(validation, "_available_devices", lambda: {"cpu": 1})
    with pytest.raises(ConfigError) as error:
        check_devices(accelerator, 1)
    message = str(error.value)
    assert f"trainer.accelerator={accelerator} asks for a GPU but this machine has none (available: cpu" in message
    assert "trainer.accelerator=cpu" in message and "trainer.accelerator=auto" in message and "\n" not in message


def test_more_gpus_than_the_machine_has_are_refused(monkeypatch):
    monkeypatch.setattr(validation, "_available_devices", lambda: {"cpu": 1, "cuda": 1})
    check_devices("gpu", 1)
    check_devices("auto", [0])
    check_devices("cpu", 4)  # DDP on the CPU: any number of processes
    for devices in (2, [0, 1], [3]):
        with pytest.raises(ConfigError, match=r"trainer.devices=.* asks for \d cuda device\(s\) but this machine has 1 "
                                              r"\(available: cpu \(\d+ cores\), 1 cuda\); use trainer.devices=1 or fewer"):
            check_devices("cuda", devices)


@pytest.mark.parametrize(("accelerator", "devices", "fragment"), [
    ("tpu2", 1, "trainer.accelerator=tpu2 is unknown; use one of auto, cpu, gpu, cuda, mps"),
    ("cpu", 0, "trainer.devices=0 asks for no device"),
    ("cpu", "many", "trainer.devices=many is not a device count"),
])
def test_values_lightning_cannot_take_are_one_line(accelerator, devices, fragment):
    with pytest.raises(ConfigError, match=fragment):
        check_devices(accelerator, devices)


@pytest.mark.slow
def test_the_console_script_refuses_a_missing_gpu_before_any_dir_is_made(tmp_path, monkeypatch):
    import torch

    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU")
    run_dir = tmp_path / "run"
    result = run_script("ssgen-train", "trainer.accelerator=gpu", f"hydra.run.dir={run_dir}")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["ssgen-train: error: trainer.accelerator=gpu asks for a GPU but this machine has none (available: "
                     f"cpu ({__import__('os').cpu_count()} cores)); use trainer.accelerator=cpu, or "
                     "trainer.accelerator=auto (the best this machine has)"], result.stderr
    assert not run_dir.exists() and not list(tmp_path.iterdir())
