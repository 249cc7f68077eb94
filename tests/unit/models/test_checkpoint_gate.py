"""The checkpoint gate: a crafted checkpoint runs no code through any command, and old checkpoints still load.

Each crafted file (conftest ``crafted``) asks for ``subprocess.Popen(["touch", <marker>])``: if anything called it,
the marker exists. Routes: the model class (``ssgen_module``), a network ``_target_`` of the arch hyper-parameters, a
``_target_`` nested in a network's arguments, M1+M2's frozen M1 networks, and evaluate's fallback to the run dir's
config. Here the in-process loader; each command as a subprocess: tests/e2e/test_checkpoint_gate_cli.py.
"""

from __future__ import annotations

import pytest
from conftest import ROUTES, crafted

from ssgen.errors import UnsafeCheckpointError
from ssgen.models.checkpoints import load_module


def test_in_process_loads_refuse_every_route_without_calling_anything(tmp_path):
    for route in ROUTES:
        path, marker = crafted(tmp_path, route)
        with pytest.raises(UnsafeCheckpointError, match="which is not one of ssgen's"):
            load_module(path)
        assert not marker.exists()
