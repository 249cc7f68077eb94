"""Where the data set's tensors live during a fit (``data.device_resident``): the training device or the host.

    resident_device("auto", torch.device("cuda"), nbytes)   # the GPU, unless the set would crowd it
"""

from __future__ import annotations

from typing import Any

import torch

from ssgen.errors import ConfigError

DEVICE_RESIDENT_CHOICES = ("auto", "true", "false")


def parse_device_resident(value: Any) -> str:
    """``data.device_resident`` as 'auto', 'true' or 'false' (YAML booleans accepted). Raises ConfigError."""
    text = str(value).strip().lower()
    if text not in DEVICE_RESIDENT_CHOICES:
        raise ConfigError(f"data.device_resident={value!r} is unknown; use auto (the data set on the GPU when training "
                          "on one), true (always on the training device) or false (on the host, batches copied per step)")
    return text


def resident_device(setting: str, device: torch.device, nbytes: int = 0) -> torch.device | None:
    """Where a stream's tensors live for ``data.device_resident=setting`` on a run training on ``device``.

    'true': on ``device``. On a GPU the whole set (Fashion-MNIST's 60k training images: 47 MB of uint8) is
    copied once, and batches are then cut and converted there, with no host-to-device copy and no host sync per
    step. 'auto': the same, unless the ``nbytes`` of the stream would take more than a quarter of the GPU's free
    memory (never for this data set; a guard for a small MIG slice shared with other jobs). 'false': None, the
    tensors stay on the host and Lightning copies each float batch to the device (4 bytes a pixel, not 1). On the
    CPU every setting leaves the same tensors in place; 'true' and 'false' still take their own code path, which
    is what the tests compare.
    """
    setting = parse_device_resident(setting)
    if setting == "false":
        return None
    if setting == "auto" and device.type == "cuda" and nbytes:
        free, _ = torch.cuda.mem_get_info(device)
        if nbytes > free // 4:
            return None
    return device
