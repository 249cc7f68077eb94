"""trainer.accelerator / trainer.devices that this machine cannot give: one line before any dir is made."""

from __future__ import annotations

import pytest

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
