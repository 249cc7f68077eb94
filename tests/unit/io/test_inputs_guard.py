"""No command writes over its own input, compared by file identity (device and inode), not by spelling (issue 39,
item 5): ``./batch.npz``, an absolute path, a symlink and a hard link are all the same file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ssgen.errors import ConfigError
from ssgen.io import add_inputs, atomic_write_text, check_output, reading_inputs


@pytest.mark.parametrize("spelling", ["relative", "absolute", "symlink", "hardlink"])
def test_every_spelling_of_an_input_is_refused_as_an_output(tmp_path, monkeypatch, spelling):
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "batch.npz"
    source.write_bytes(b"the user's images")
    out = {"relative": Path("./batch.npz"), "absolute": source, "symlink": tmp_path / "link.npz",
           "hardlink": tmp_path / "hard.npz"}[spelling]
    if spelling == "symlink":
        out.symlink_to(source)
    elif spelling == "hardlink":
        os.link(source, out)
    with reading_inputs():
        add_inputs([Path("batch.npz")], "images=batch.npz")
        with pytest.raises(ConfigError) as error:
            check_output(out, "out")
        assert str(error.value) == (f"out={out} is images=batch.npz, which this command reads; writing it would "
                                    "replace that input: give out= another path")
        with pytest.raises(ConfigError, match="^refusing to write .*: it is images=batch.npz, which this command reads"):
            atomic_write_text(out, "labels")  # every writer, not only the options a command checks
    assert source.read_bytes() == b"the user's images"
    atomic_write_text(tmp_path / "other.csv", "x")  # outside a command nothing is guarded


def test_a_new_file_or_another_file_is_not_an_input(tmp_path):
    (tmp_path / "in.npz").write_bytes(b"x")
    (tmp_path / "old_out.npz").write_bytes(b"y")
    with reading_inputs():
        add_inputs([tmp_path / "in.npz"], "images=in.npz")
        check_output(tmp_path / "new.npz", "out")
        check_output(tmp_path / "old_out.npz", "out")
