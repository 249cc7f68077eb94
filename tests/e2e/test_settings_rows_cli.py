"""Issue 39, item 8, through the real console script: ``ssgen-report gan`` over a sweep of
``method.lr_generator=2e-4,2e-3`` gives a DCGAN row per learning rate and names it. Before, one row "2 (2) runs"
averaged both and the setting was named nowhere."""

from __future__ import annotations

import json

import yaml
from conftest import plain_table, run_script


def test_a_gan_table_keys_its_rows_on_the_setting_the_sweep_varied(tmp_path):
    sweep = tmp_path / "sweep"
    for job, lr, fid in ((0, "2e-4", 20.0), (1, "2e-3", 60.0)):
        run_dir = sweep / f"{job}_method.lr_generator={lr}"
        (run_dir / ".hydra").mkdir(parents=True)
        (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["method=dcgan", f"method.lr_generator={lr}"]))
        (run_dir / "results.json").write_text(json.dumps({
            "status": "ok", "method": "dcgan", "family": "gan", "arch": "dcgan", "seed": 0, "fid": fid,
            "settings_hash": f"hash{job}", "overrides": ["method=dcgan", f"method.lr_generator={lr}"]}))
    result = run_script("ssgen-report", "gan", f"runs={sweep}")
    assert result.returncode == 0, result.stderr
    rows = [line for line in plain_table(result.stdout).splitlines() if line.startswith("| dcgan")]
    assert len(rows) == 2, result.stdout
    assert rows[0].startswith("| dcgan [method.lr_generator=2e-3]") and "| 60.00 " in rows[0]
    assert rows[1].startswith("| dcgan [method.lr_generator=2e-4]") and "| 20.00 " in rows[1]
