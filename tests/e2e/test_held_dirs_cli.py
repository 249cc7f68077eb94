"""Issue 39, item 3, through the real console script: two launches in the same second train into two dirs (Hydra's
default run dir has one-second resolution: before, seed 0's results were lost to seed 1's, both exit 0), and a launch
into a dir a live ssgen-train holds is refused in one line naming that process, writing nothing there."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml
from conftest import run_script, script_env
from records_e2e import DEBUG, error_lines


@pytest.mark.slow
def test_two_launches_in_the_same_second_keep_both_results(tmp_path):
    for attempt in range(4):
        cwd = tmp_path / f"attempt{attempt}"
        cwd.mkdir()
        launches = [subprocess.Popen(["ssgen-train", *DEBUG, f"seed={seed}"], cwd=cwd, env=script_env(), text=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for seed in (0, 1)]
        for launch in launches:
            _, stderr = launch.communicate(timeout=900)
            assert launch.returncode == 0, stderr[-3000:]
        dirs = sorted(path for path in (cwd / "outputs" / "m1").iterdir() if path.is_dir())
        assert len(dirs) == 2, f"two launches shared {dirs}: one run's results are gone"
        if dirs[0].name[:19] != dirs[1].name[:19]:  # not the same second after all: try again
            continue
        seeds = sorted(json.loads((path / "results.json").read_text())["seed"] for path in dirs)
        assert seeds == [0, 1] and all(json.loads((p / "results.json").read_text())["status"] == "ok" for p in dirs)
        return
    pytest.skip("four pairs of launches never started in the same second on this machine")


@pytest.mark.slow
def test_a_launch_into_a_dir_a_live_run_holds_is_refused_naming_it(tmp_path):
    run_dir, release = tmp_path / "run", tmp_path / "release"
    holder = subprocess.Popen(["ssgen-train", *DEBUG, "seed=0", f"hydra.run.dir={run_dir}",
                               "+callbacks.hold._target_=records_probe.WaitInSetup", f"+callbacks.hold.release={release}"],
                              env=script_env(), text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 600
        while not (run_dir / "probe_waiting").exists() and holder.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert (run_dir / "probe_waiting").exists(), holder.stderr.read()[-3000:] if holder.poll() is not None else ""
        before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file() and path.suffix != ".log"}
        second = run_script("ssgen-train", *DEBUG, "seed=1", f"hydra.run.dir={run_dir}")
        assert second.returncode == 2
        assert error_lines(second.stderr) == [
            f"ssgen-train: error: {run_dir} is in use by pid {holder.pid} since "
            + error_lines(second.stderr)[0].split(" since ", 1)[1]]
        line = error_lines(second.stderr)[0]
        assert line.endswith(f"wait for it to end (or stop it: kill {holder.pid}), or choose another hydra.run.dir")
        after = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file() and path.suffix != ".log"}
        assert after == before  # .hydra/ and results.json are still the holder's
    finally:
        release.write_text("go")
        _, stderr = holder.communicate(timeout=900)
    assert holder.returncode == 0, stderr[-3000:]
    assert json.loads((run_dir / "results.json").read_text())["seed"] == 0
    assert yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())[len(DEBUG)] == "seed=0"
