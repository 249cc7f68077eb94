"""A run dir that cannot be written, through the real ``ssgen-train``: one line naming the path and the fix; the
end-to-end half of tests/unit/test_storage.py."""

from __future__ import annotations

import pytest
from conftest import run_script

FIX = "free space or choose another hydra.run.dir"  # as in tests/unit/test_storage.py


@pytest.mark.slow
def test_the_console_script_refuses_a_run_dir_it_cannot_write_in_one_line(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("a file, where the run dir's parent should be")
    result = run_script("ssgen-train", f"hydra.run.dir={taken / 'run'}")
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        f"ssgen-train: error: cannot write {taken / 'run'}: {taken} is a file, not a dir; {FIX}"], result.stderr
    assert taken.read_text().startswith("a file")
