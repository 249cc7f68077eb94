"""CPU thread policy: ssgen's OpenMP threads wait passively (robust on a shared CPU); the user's choice wins."""

from __future__ import annotations

import os
import subprocess
import sys


def _policy(env: dict[str, str], code: str = "import ssgen, torch, os; print(os.environ.get('OMP_WAIT_POLICY'))") -> str:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_importing_ssgen_sets_passive_wait_before_torch_loads() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy(env) == "PASSIVE"
    # what the console scripts see: their first import is the ssgen package
    code = "import ssgen.train, os; print(os.environ.get('OMP_WAIT_POLICY'))"
    assert _policy(env, code) == "PASSIVE"


def test_a_policy_the_user_set_wins() -> None:
    assert _policy({**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
