"""Issue 39, item 7, through the real console script: ``ssgen-predict`` on a folder holding a file whose name is not
UTF-8 (``caf\\xe9_1.png`` in Latin-1, from a Windows zip or an SMB share) reads it, writes it to the CSV and prints it
escaped. Before, it crashed with ``UnicodeEncodeError ... surrogates not allowed``."""

from __future__ import annotations

import csv

import pytest
from conftest import latin1_folder, run_script
from records_e2e import untrained_checkpoint


@pytest.mark.slow
def test_predict_handles_a_file_name_that_is_not_utf8(tmp_path):
    folder = latin1_folder(tmp_path)
    model = untrained_checkpoint(tmp_path / "m2.ckpt")
    result = run_script("ssgen-predict", f"run={model}", f"images={folder}", f"out={tmp_path / 'labels.npz'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and f"{folder}/caf\\xe9_1.png: " in result.stdout
    rows = list(csv.reader((tmp_path / "labels.csv").open(encoding="utf-8")))
    assert [row[1] for row in rows[1:]] == [f"{folder}/caf\\xe9_1.png", f"{folder}/plain_2.png"]
