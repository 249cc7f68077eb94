"""Any file name the OS can hand over is handled (issue 39, item 7): names that are not UTF-8 (a Windows zip, an SMB
share) are read, written to the CSV and printed escaped, and never raise."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from conftest import latin1_folder

from ssgen.data.images import read_images
from ssgen.io import display_path
from ssgen.predict import write_predictions


def test_a_folder_with_a_latin1_name_is_read_and_written_escaped(tmp_path):
    batch = read_images(latin1_folder(tmp_path))
    names = [Path(record.path).name for record in batch.files]
    assert names == [os.fsdecode(b"caf\xe9_1.png"), "plain_2.png"] and len(batch) == 2
    from ssgen.api import Predictions

    npz, table = write_predictions(tmp_path / "labels.npz", Predictions(np.array([3, 4]), tuple(batch.files)))
    rows = list(csv.reader(table.open(encoding="utf-8")))
    assert rows[1][1].endswith("caf\\xe9_1.png") and rows[2][1].endswith("plain_2.png")
    with np.load(npz) as archive:  # the npz keeps the name as the OS gave it: os.fsencode gives the bytes back
        assert os.fsencode(str(archive["files"][0])).endswith(b"caf\xe9_1.png")
    assert display_path(batch.files[0].path).endswith("caf\\xe9_1.png")
