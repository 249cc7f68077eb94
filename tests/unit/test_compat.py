"""ssgen.compat: each private API it wraps still exists on the installed versions and behaves as assumed, and each
fallback gives what its docstring promises. A failure here after an upgrade names the wrapper to revisit."""

from __future__ import annotations

import re
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.errors import HydraException
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ssgen import compat

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "ssgen"


class Recorder(Logger):
    """Keeps what Lightning writes: ``{metric: [values]}``."""

    def __init__(self) -> None:
        super().__init__()
        self.written: dict[str, list[float]] = {}

    @property
    def name(self) -> str:
        return "recorder"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params: object, *args: object, **kwargs: object) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.written.setdefault(key, []).append(float(value))


class Tiny(L.LightningModule):
    """One linear layer; logs its batch index every step and notes whether compat said it would be written."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)
        self.flagged: list[int] = []

    def training_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> torch.Tensor:
        if compat.logger_writes_now(self.trainer):
            self.flagged.append(batch_idx)
        self.log("batch", float(batch_idx), on_step=True, on_epoch=False)
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit_tiny(module: L.LightningModule, n_batches: int, callbacks: list[L.Callback] | None = None,
             **trainer_kwargs: object) -> L.Trainer:
    loader = DataLoader(TensorDataset(torch.randn(n_batches, 2)), batch_size=1)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks or [],
                        **trainer_kwargs)
    trainer.fit(module, train_dataloaders=loader)
    return trainer


# ------------------------------------------------------------------------------------------------ Lightning
def test_logger_writes_now_reads_an_existing_connector_property():
    connector = L.Trainer(logger=False, enable_progress_bar=False)._logger_connector
    assert isinstance(type(connector).__dict__.get("should_update_logs"), property)


def test_logger_writes_now_is_true_exactly_on_the_steps_the_logger_writes():
    module, recorder = Tiny(), Recorder()
    fit_tiny(module, 7, logger=recorder, log_every_n_steps=3)
    assert module.flagged == [2, 5]
    assert recorder.written["batch"] == [2.0, 5.0]


def test_logger_writes_now_falls_back_to_every_step():
    assert compat.logger_writes_now(None) is True
    assert compat.logger_writes_now(object()) is True  # a trainer without the connector


class StopAt(L.Callback):
    def __init__(self, batch: int) -> None:
        self.batch = batch

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: object, batch: object,
                           batch_idx: int) -> None:
        if batch_idx == self.batch:
            compat.stop_at_batch_end(trainer)


def test_stop_at_batch_end_sets_the_flag_behind_the_public_property():
    trainer = L.Trainer(logger=False, enable_progress_bar=False)
    assert hasattr(trainer._signal_connector, "received_sigterm") and not trainer.received_sigterm
    compat.stop_at_batch_end(trainer)
    assert trainer.received_sigterm


def test_stop_at_batch_end_stops_after_the_batch_counts_as_completed():
    """The stop a SIGTERM makes: the batch's optimizer step done and counted, so a resume starts at the next."""
    module = Tiny()
    callback = StopAt(2)
    with pytest.raises(SIGTERMException):
        fit_tiny(module, 7, [callback], logger=False)
    trainer = module.trainer
    assert trainer.global_step == 3
    assert trainer.fit_loop.epoch_loop.batch_progress.current.completed == 3


def test_stop_at_batch_end_falls_back_to_stopping_at_once():
    with pytest.raises(SIGTERMException):
        compat.stop_at_batch_end(object())


# ------------------------------------------------------------------------------------------------ torch
def clamp_inputs() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(3, 4, generator=generator), torch.randn(5, generator=generator) * 0.02]


def test_foreach_clamp_uses_existing_kernels_that_match_clamp():
    assert callable(torch._foreach_clamp_min_) and callable(torch._foreach_clamp_max_)
    tensors = clamp_inputs()
    compat.foreach_clamp_(tensors, -0.01, 0.01)
    for clamped, original in zip(tensors, clamp_inputs(), strict=True):
        assert torch.equal(clamped, original.clamp(-0.01, 0.01))


def test_foreach_clamp_falls_back_to_clamp_per_tensor(monkeypatch):
    monkeypatch.delattr(torch, "_foreach_clamp_min_")
    tensors = clamp_inputs()
    compat.foreach_clamp_(tensors, -0.01, 0.01)
    for clamped, original in zip(tensors, clamp_inputs(), strict=True):
        assert torch.equal(clamped, original.clamp(-0.01, 0.01))


def test_cpu_probes_exist_and_answer_booleans():
    assert isinstance(torch.cpu._is_avx512_bf16_supported(), bool)
    assert isinstance(torch.cpu._is_amx_tile_supported(), bool)
    assert compat.cpu_has_native_bf16() == (torch.cpu._is_avx512_bf16_supported()
                                            or torch.cpu._is_amx_tile_supported())


def test_cpu_probes_fall_back_to_fp32(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert compat.cpu_has_native_bf16() is False


def test_uncompiled_finds_the_module_torch_compile_wrapped():
    module = nn.Linear(2, 2)
    compiled = torch.compile(module)  # lazy: nothing is compiled until it is called
    assert compiled is not module and compat.uncompiled(compiled) is module
    assert compat.uncompiled(module) is module


# ------------------------------------------------------------------------------------------------ Hydra
SWEEPS = [["a=1,2", "b=x,y"], ["a=1", "+c=[1,2]"], ["method=m1,dcgan", "seed=0,1,2", "a=3"],
          ["a=1,2", "b=x", "a=5,6"], []]


def test_expand_sweep_uses_the_basic_sweepers_own_expansion():
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    assert callable(BasicSweeper.split_arguments)
    assert compat.expand_sweep(["a=1,2", "b=x,y"]) == [["a=1", "b=x"], ["a=1", "b=y"], ["a=2", "b=x"], ["a=2", "b=y"]]


@pytest.mark.parametrize("overrides", SWEEPS)
def test_expand_sweep_fallback_agrees_with_hydra(overrides, monkeypatch):
    from hydra._internal.core_plugins import basic_sweeper

    expected = compat.expand_sweep(overrides)
    monkeypatch.delattr(basic_sweeper.BasicSweeper, "split_arguments")
    assert compat.expand_sweep(overrides) == expected


def test_expand_sweep_refuses_a_range_sweep_either_way(monkeypatch):
    with pytest.raises(HydraException):
        compat.expand_sweep(["a=interval(0,1)"])
    from hydra._internal.core_plugins import basic_sweeper

    monkeypatch.delattr(basic_sweeper.BasicSweeper, "split_arguments")
    with pytest.raises(HydraException):
        compat.expand_sweep(["a=interval(0,1)"])


# ------------------------------------------------------------------------------------------------ one place
PRIVATE = re.compile(r"torch\._[a-z]|torch\.cpu\._|hydra\._internal|_logger_connector|_signal_connector|_orig_mod"
                     r"|getattr\([^,]+,\s*[\"']_[a-z]|(?:from|import)\s+[\w.]+\._[a-z]|\._get_node\(|\._is_none\("
                     r"|\._is_interpolation\(|_parse_sweeper_params_config|_get_directions")


def test_no_other_module_reaches_into_private_apis():
    offending = [f"{path.relative_to(PACKAGE_DIR.parent)}:{number}: {line.strip()}"
                 for path in sorted(PACKAGE_DIR.rglob("*.py")) if path.name != "compat.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1) if PRIVATE.search(line)]
    assert not offending, "put private APIs behind ssgen/compat.py: " + "; ".join(offending)


def test_hydra_reads_its_command_line_and_builds_the_search_path_hydra_main_builds(tmp_path):
    """The parser and the loader are Hydra's own: ``--config-dir`` and the overrides are read as ``@hydra.main`` reads
    them, and a config group of the user's dir is an option beside conf/'s."""
    from ssgen.config.files import CONF_DIR

    args = compat.hydra_args_parser().parse_args(["-m", "--config-dir", str(tmp_path), "seed=1,2"])
    assert args.multirun and args.config_dir == str(tmp_path) and args.overrides == ["seed=1,2"]
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text("# @package _global_\nseed: 7\n")
    loader = compat.hydra_config_loader(None, str(CONF_DIR), str(tmp_path))
    options = loader.get_group_options("experiment")
    assert "mine" in options and "debug" in options


def test_the_optuna_sweepers_internals_are_where_the_resumable_search_expects_them():
    """ResumableSearch extends hydra-optuna-sweeper's implementation and reads two of its methods; optuna's storage
    workaround reads its migration scripts."""
    from pathlib import Path

    impl = compat.optuna_sweeper_impl()
    assert impl.__name__ == "OptunaSweeperImpl" and callable(getattr(impl, "sweep", None))
    assert callable(getattr(impl, "_parse_sweeper_params_config", None)) and callable(getattr(impl, "_get_directions", None))
    assert (Path(compat.optuna_alembic_dir()) / "versions").is_dir()

    class NoPrivates:
        direction = "maximize"

    assert compat.optuna_sweeper_params(NoPrivates()) == [] and compat.optuna_sweeper_directions(NoPrivates()) == ["maximize"]
