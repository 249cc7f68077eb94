"""Issue 39, item 6, through the real console script: a value that cannot train is refused before anything is made, in
every job of a sweep before the first starts. Before, ``seed=-1`` passed the pre-flight check and failed after the run
dir was made (20 lines, 6 traceback frames), and ``seed=0,-1`` trained job 0 before job 1 was refused."""

from __future__ import annotations

import pytest
from conftest import run_script
from records_e2e import DEBUG, error_lines


@pytest.mark.slow  # Hydra's multirun start: ~15 s
def test_a_sweep_with_a_bad_seed_is_refused_before_its_first_job(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_script("ssgen-train", "-m", *DEBUG, "seed=0,-1", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"ssgen-train: error: job {' '.join(DEBUG)} seed=-1: seed=-1 is not a seed; use an integer from 0 to 4294967295 "
        "(2**32 - 1); no job was started"]
    assert "Traceback" not in result.stderr and not sweep.exists()
