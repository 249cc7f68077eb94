"""ssgen-report as a user runs it: a missing dir is one line, and a reader that stops early ends it quietly; the
end-to-end half of tests/unit/reporting/test_report.py."""

from __future__ import annotations

import pytest
from conftest import assert_quiet_when_the_reader_stops_early, fake_run, run_script


@pytest.mark.slow
def test_console_script_missing_dir_one_line(tmp_path):
    result = run_script("ssgen-report", f"runs={tmp_path / 'nope'}", timeout=120)
    assert result.returncode == 2 and result.stderr.strip().startswith("ssgen-report: error:")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_report_piped_into_a_reader_that_stops_early_ends_quietly(tmp_path):
    """`ssgen-report <sweep> | head -3`: the reader is gone before the table is written; no traceback."""
    fake_run(tmp_path, "a", 0, 1.0, {"100": 0.60, "600": 0.70})
    assert_quiet_when_the_reader_stops_early(["ssgen-report", f"runs={tmp_path}"])
