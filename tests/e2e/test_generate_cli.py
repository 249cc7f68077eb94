"""ssgen-generate as a user runs it: a round trip from the session's tiny WGAN-GP run (conftest ``gan_run``) and a
missing checkpoint, and ssgen-report's figures and GAN table from tools/gan_study.py's records; the end-to-end half of
tests/unit/test_generate.py.

    python -m pytest tests/e2e/test_generate_cli.py -q -p no:cacheprovider -m slow
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT, run_script
from PIL import Image

CELL = 28 + 2  # make_grid: each image plus 2 pixels of padding


@pytest.mark.slow
def test_round_trip_all_labels_as_a_subprocess(gan_run, tmp_path):
    out, npz = tmp_path / "grid.png", tmp_path / "grid.npz"
    result = run_script("ssgen-generate", f"run={gan_run}", "label=all", "n=3", "seed=1", f"out={out}",
                        f"npz={npz}", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "wrote 30 images" in result.stdout
    image = Image.open(out)
    assert image.format == "PNG" and image.size == (3 * CELL + 2, 10 * CELL + 2)  # 3 columns, one row per class
    data = np.load(npz)
    assert data["images"].shape == (30, 28, 28) and data["images"].dtype == np.uint8
    assert data["labels"].dtype == np.int64
    assert data["labels"].tolist() == [label for label in range(10) for _ in range(3)]
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temp files


@pytest.mark.slow
def test_missing_checkpoint_as_a_subprocess(tmp_path):
    result = run_script("ssgen-generate", f"run={tmp_path / 'nope.ckpt'}", f"out={tmp_path / 'x.png'}",
                        timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "nope.ckpt does not exist" in result.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.slow
def test_figures_and_report_regenerate_from_committed_records(gan_run, tmp_path, monkeypatch, capsys):
    """tools/gan_study.py's records (results.json, curves.csv, samples.npz: no checkpoints, no event files) are
    enough for ssgen-report's figures and GAN table."""
    import importlib.util

    import numpy as np

    spec = importlib.util.spec_from_file_location("gan_study", ROOT / "tools" / "gan_study.py")
    gan_study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gan_study)
    monkeypatch.setattr(gan_study, "RECORDS", tmp_path / "records")
    record = gan_study.write_record(gan_run, "wgan_gp_dcgan_seed0")
    assert sorted(path.name for path in record.iterdir()) == ["curves.csv", "results.json", "samples.npz"]
    with np.load(record / "samples.npz") as archive:
        assert archive["images"].shape == (100, 28, 28) and archive["images"].dtype == np.uint8
        assert np.bincount(archive["labels"]).tolist() == [10] * 10
    assert "loss/critic,0," in (record / "curves.csv").read_text()
    out = tmp_path / "figures"
    result = run_script("ssgen-report", "figures", f"runs={tmp_path / 'records'}", f"out={out}",
                        "labels=Pullover,ankle boot", timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == ["gan_grid_wgan_gp.png", "gan_losses_dcgan.png", "gan_samples.png"]
    table = run_script("ssgen-report", "gan", f"runs={tmp_path / 'records'}", timeout=120)
    assert table.returncode == 0 and "wgan_gp" in table.stdout
    # an ablation record sits beside the study record of the same method, arch and seed in docs/design/gan_ablations.md
    monkeypatch.setattr(gan_study, "ABLATION_RECORDS", tmp_path / "ablations")
    ablation = gan_study.write_record(gan_run, "wgan_gp_dcgan_seed0", tmp_path / "ablations" / "precision_32-true")
    (ablation / "overrides.txt").write_text("trainer.precision=32-true\n")
    rows = gan_study.ablation_rows()
    assert len(rows) == 2 and "study (" in rows[0] and "`trainer.precision=32-true`" in rows[1]
    capsys.readouterr()
    gan_study.status()  # the plan with what is recorded, then the ablations with their overrides
    lines = capsys.readouterr().out.splitlines()
    assert next(line for line in lines if line.startswith("wgan_gp_dcgan_seed0 ")).split()[1] == "ok,"
    assert lines[-1].startswith("ablation precision_32-true/wgan_gp_dcgan_seed0 (trainer.precision=32-true): ok, FID")
    with pytest.raises(SystemExit, match="must be letters"):
        gan_study.ablation("../elsewhere", "dcgan", "dcgan", 0, ["seed=1"])
