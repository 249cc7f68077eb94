"""python -m benchmarks: the ratio's confidence interval, nothing written unless asked, --concurrent."""

from __future__ import annotations

import math
import re

import pytest
from conftest import ROOT, plain_table

import benchmarks as bench

TINY = ["models=m1", "batches=2", "warmup=1", "override=[torch_threads=1]"]


def test_ratio_interval_on_fixed_numbers():
    """Geometric mean of the paired ratios and the Student-t interval of their logs, by hand."""
    same = bench.ratio_interval([90.0, 45.0, 180.0], [100.0, 50.0, 200.0])  # every pair 0.9: no width
    assert same.estimate == pytest.approx(0.9) and same.low == pytest.approx(0.9) and same.high == pytest.approx(0.9)
    two = bench.ratio_interval([90.0, 100.0], [100.0, 100.0])
    logs = [math.log(0.9), 0.0]
    mean, half = sum(logs) / 2, 12.706204736 * abs(logs[0]) / math.sqrt(2) / math.sqrt(2)  # t(0.975, 1 df)
    assert two.estimate == pytest.approx(math.exp(mean))
    assert (two.low, two.high) == (pytest.approx(math.exp(mean - half)), pytest.approx(math.exp(mean + half)))
    assert two.n == 2 and two.half_width == pytest.approx((two.high - two.low) / 2 / two.estimate)
    # ten pairs at +-1%: the interval is narrow enough to see a 5% difference
    ten = bench.ratio_interval([93.0, 94.0] * 5, [100.0] * 10)
    assert ten.low > 0.92 and ten.high < 0.945 and ten.half_width < 0.025
    assert bench.ratio_interval([5.0], [4.0]).text() == "1.25 (1 repeat: no interval)"
    with pytest.raises(ValueError, match="paired"):
        bench.ratio_interval([1.0, 2.0], [1.0])


@pytest.mark.slow
def test_default_run_writes_nothing_and_out_writes_only_its_section(tmp_path, monkeypatch, capsys):
    tracked = ROOT / "docs" / "design" / "performance.md"
    before = tracked.read_bytes()
    monkeypatch.chdir(tmp_path)
    bench.main([*TINY, "repeats=2"])
    printed = capsys.readouterr().out
    # 2 pairs: a t-interval with 1 degree of freedom, as wide as the machine makes it
    assert re.search(r"\| m1 \| 100 \| [\d,]+ \| [\d,]+ \| \d\.\d\d \[[\d.,]+, [\d.,]+\] ", plain_table(printed)), printed[-1500:]
    assert "Command: `python -m benchmarks models=m1 batches=2 warmup=1" in printed  # the command as given
    assert list(tmp_path.iterdir()) == [] and tracked.read_bytes() == before  # printed only

    out = tmp_path / "perf.md"
    out.write_text("# Perf\n\nkept\n\n<!-- bench:cpu:begin -->\nold\n<!-- bench:cpu:end -->\n\nalso kept\n")
    bench.main([*TINY, "quick=true", f"out={out}", "section=cpu"])
    text = out.read_text()
    assert "kept" in text and "also kept" in text and "old" not in text and "| m1 | 100 |" in plain_table(text)
    assert tracked.read_bytes() == before

    with pytest.raises(SystemExit) as exit_info:
        bench.main([*TINY, "section=cpu"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("benchmarks: error: section=cpu names a part of the out= file") and "\n" not in error
    with pytest.raises(SystemExit):
        bench.main(["models=nope"])
    assert capsys.readouterr().err.strip().startswith("benchmarks: error: no plain-loop twin for nope; models: m1,")


@pytest.mark.slow
def test_concurrent_copies_report_fractions_of_the_lone_copy(tmp_path, monkeypatch, capsys):
    """--concurrent 2 on M1 with 2 timed batches: a lone copy, then two copies as processes at once; the table
    gives each copy's images/s and its fraction of the lone copy's, from the same invocation."""
    monkeypatch.chdir(tmp_path)
    bench.main([*TINY, "concurrent=2", "repeats=1"])
    printed = capsys.readouterr().out
    row = re.search(r"\| m1 \| 2 \| 1 \| ([\d,]+) \| ([\d,]+), ([\d,]+) \| (\d\.\d\d), (\d\.\d\d) \| (\d\.\d\d) \|", plain_table(printed))
    assert row, printed[-1500:]
    alone, first, second = (float(row.group(i).replace(",", "")) for i in (1, 2, 3))
    assert alone > 0 and float(row.group(4)) == pytest.approx(first / alone, abs=0.01)
    assert float(row.group(6)) == pytest.approx(float(row.group(4)) + float(row.group(5)), abs=0.011)
    assert list(tmp_path.iterdir()) == []


def test_performance_tables_tool_runs_one_bench_per_table_of_this_device():
    """tools/performance_tables.py: the documented single command; a section per table, named by device kind."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("performance_tables", ROOT / "tools" / "performance_tables.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    for kind in ("cpu", "cuda"):
        runs = tool.commands(kind, "docs/design/performance.md", 3)
        sections = [next(word for word in run if word.startswith("section=")).split("=", 1)[1] for run in runs]
        assert sections == [f"{kind}_main", f"{kind}_concurrency", f"{kind}_options"]
        assert all(run[1:3] == ["-m", "benchmarks"] and any(word.startswith("out=") for word in run) for run in runs)
        assert "concurrent=3" in runs[1] and any(word.startswith("compare=") for word in runs[2])
        bench.parse_args(runs[2][3:])  # every command is one the bench accepts
        text = (ROOT / "docs" / "design" / "performance.md").read_text()
        assert all(f"<!-- bench:{section}:begin -->" in text for section in sections)
