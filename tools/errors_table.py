"""Regenerate docs/errors.md: run every bad input the tests cover and record the one-line message it gets.

    python tools/errors_table.py > docs/errors.md
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import compose_config  # noqa: E402

from ssgen.config.validation import validate  # noqa: E402
from ssgen.errors import SSGenError  # noqa: E402


def config_message(overrides: list[str]) -> str:
    from ssgen.config.command_line import check_command_line
    from ssgen.config.files import CONF_DIR
    from ssgen.config.schemas import register_configs

    register_configs()  # the base_* schemas the YAMLs extend, as ssgen-train registers them before its check
    try:
        check_command_line(overrides, str(CONF_DIR), "train")
        validate(compose_config([*overrides, "run_dir=/tmp/x"]))
    except SSGenError as exc:
        return f"ssgen-train: error: {exc}"
    except Exception as exc:  # Hydra's own composition errors
        return str(exc).strip().splitlines()[0] + " …"
    return "(accepted)"


def cli_message(main: object, argv: list[str]) -> str:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)  # type: ignore[operator]
        except SystemExit:
            pass
    return stderr.getvalue().strip().splitlines()[-1] if stderr.getvalue().strip() else "(accepted)"


def lifecycle_rows() -> list[tuple[str, str]]:
    """Messages of the run lifecycle (relaunch, interrupt, failed sweep jobs), from the functions that print them."""
    from omegaconf import OmegaConf

    from ssgen.run.lifecycle import finished_message, interrupted_message, sweep_failure_lines
    from ssgen.run.results import write_results

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        write_results(run, {"status": "ok", "epochs": 3, "optimizer_steps": 300})
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "last.ckpt").write_bytes(b"")
        cfg = OmegaConf.create({"trainer": {"max_epochs": 3}})
        rows.append(("relaunching a finished run with the same `trainer.max_epochs` (exit 0)",
                     "ssgen-train: " + str(finished_message(cfg, run)).replace(str(run), "<run>")))
        rows.append(("Ctrl-C or SIGTERM during training (exit 2, status `interrupted`)",
                     "ssgen-train: error: " + interrupted_message("KeyboardInterrupt", run).replace(str(run), "<run>")))
    rows.append(("a multirun in which some jobs failed (exit 1, after every job ran)",
                 " ".join(sweep_failure_lines(["<sweep>/1_seed=1: failed: <reason>"]))))
    return rows


def records_rows() -> list[tuple[str, str]]:
    """Messages about what a run reads and writes (data identity, storage, stops), from the functions that raise them."""
    import errno
    import logging
    import os

    from ssgen import data
    from ssgen.io import RUN_DIR_FIX, make_dir, storage_error
    from ssgen.run.lifecycle import resume_command
    from ssgen.run.stops import sweep_hint

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "noise"
        root.mkdir()
        rng = np.random.default_rng(0)
        for split, n in (("train", 20), ("t10k", 10)):
            data.write_idx(root / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
            data.write_idx(root / f"{split}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
        rows.append(("`ssgen-train data.root=<dir>` holding other IDX files under Fashion-MNIST's names",
                     config_message([f"data.root={root}"]).replace(str(root), "<dir>")))
        records: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
        logging.getLogger("ssgen").addHandler(handler)
        try:
            data.data_record(root, allow_unknown=True)
        finally:
            logging.getLogger("ssgen").removeHandler(handler)
        rows.append(("... with `data.allow_unknown=true` (accepted; results.json `data` records files and digests)",
                     f"warning: {records[0]}".replace(str(root), "<dir>")))
        empty = Path(tmp) / "empty"
        empty.mkdir()
        try:
            data.locate_files(str(empty), download=False, info=data.dataset_info("mnist"))
        except SSGenError as exc:
            rows.append(("`ssgen-train data=mnist data.root=<dir without the four files> data.download=false`",
                         f"ssgen-train: error: {exc}".replace(str(empty), "<dir>")))
        saved = os.environ.get(data.DATA_ENV)
        os.environ[data.DATA_ENV] = str(Path(tmp) / "missing")
        try:
            rows.append(("`SSGEN_DATA=<missing dir> ssgen-train` (or any command)",
                         config_message([]).replace(tmp, "<tmp>")))
        finally:
            if saved is None:
                del os.environ[data.DATA_ENV]
            else:
                os.environ[data.DATA_ENV] = saved
        last = "<run>/checkpoints/last.ckpt"
        rows.append(("a full disk at a checkpoint save (exit 2, status `failed: StorageError: ...`, the previous "
                     "last.ckpt kept)",
                     f"ssgen-train: error: {storage_error(last, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), RUN_DIR_FIX)}"))
        taken = Path(tmp) / "taken"
        taken.write_text("a file")
        try:
            make_dir(taken / "run")
        except SSGenError as exc:
            rows.append(("`ssgen-train hydra.run.dir=<a path under a file or in a read-only dir>` (nothing written)",
                         f"ssgen-train: error: {exc}".replace(tmp, "<tmp>")))
    single = resume_command("outputs/dcgan/2026-12-03_10-00-00", ["method=dcgan"])
    rows.append(("SIGTERM or Ctrl-C before the first batch (a callback's setup: the evaluator training; exit 2)",
                 f"ssgen-train: error: interrupted (SIGTERMException); nothing trained yet: resume with `{single}`"))
    sweep = "outputs/m1/multirun/2026-12-03_10-00-00"
    job = resume_command(f"{sweep}/0_seed=0", ["seed=0"])
    rows.append(("SIGTERM or Ctrl-C in a job of `ssgen-train -m seed=0,1` (exit 2, no further job starts)",
                 f"ssgen-train: error: interrupted (SIGTERMException); last.ckpt saved: resume with `{job}`; "
                 f"{sweep_hint(sweep)}"))
    rows.append(("SIGTERM or Ctrl-C between two jobs of a sweep (exit 2)",
                 f"ssgen-train: error: interrupted (SIGTERM) between sweep jobs; {sweep_hint(sweep)}"))
    return rows


def main() -> None:
    from benchmarks import main as bench
    from ssgen.data import load_fashion_mnist, read_idx
    from ssgen.data.images import read_images
    from ssgen.errors import InputWarning
    from ssgen.evaluate import main as evaluate
    from ssgen.evaluation.inception import inception_fid_metric
    from ssgen.generate import main as generate
    from ssgen.predict import main as predict

    rows: list[tuple[str, str]] = []
    for overrides in (["data.n_labels=105"], ["data.n_labels=-10"], ["data.n_labels=70000"], ["data.n_labels=1.5"],
                      ["data.n_labels=many"], ["method.lr=0"], ["method.kl_weight=-1"], ["method=nope"],
                      ["method.lrr=1"], ["seed=abc"], ["arch=dcgan"], ["arch=nope"],
                      ["method=wgan_gp", "method.n_critic=0", "data.n_labels=all"],
                      ["method=wgan_clip", "method.clip=0", "data.n_labels=all"],
                      ["method=dcgan", "method.lr_generator=-1", "data.n_labels=all"],
                      ["method=wgan_gp", "method.critic_norm=batch", "data.n_labels=all"],
                      ["method=wgan_gp", "data.n_labels=0"], ["method=dcgan", "method.ema_decay=1"],
                      ["method=m1_m2"], ["trainer.max_epochs=0"],
                      ["data.n_labels=10"], ["data.n_labels=1000", "method.callbacks.svm_head.n_labels=[10,100]"],
                      ["data.device_resident=gpu"], ["trainer.accelerator=gpu"], ["trainer.devices=0"]):
        rows.append(("`ssgen-train " + " ".join(overrides) + "`", config_message(overrides)))
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        good = tmp_path / "good.npz"
        np.savez(good, images=load_fashion_mnist()["test_images"][:2].numpy())
        truncated = tmp_path / "train-images-idx3-ubyte"
        truncated.write_bytes((2051).to_bytes(4, "big") + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"x" * 50)
        try:
            read_idx(truncated)
        except SSGenError as exc:
            rows.append(("a truncated IDX file in `data.root`", str(exc).replace(str(tmp_path), "<dir>")))
        (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
        import torch

        torch.save({"ssgen_module": "subprocess.Popen", "hyper_parameters": {"args": ["true"]}, "state_dict": {}},
                   tmp_path / "crafted.ckpt")
        torch.save({"ssgen_module": "ssgen.models.gan.DCGAN", "state_dict": {},
                    "hyper_parameters": {"arch": {"generator": {"_target_": "os.system", "command": "true"}}}},
                   tmp_path / "crafted_net.ckpt")
        cases = [
            (generate, [f"run={tmp_path / 'missing'}"], "`ssgen-generate` with a missing checkpoint"),
            (generate, [f"run={tmp_path / 'bad.ckpt'}"], "`ssgen-generate` with a corrupt checkpoint"),
            (generate, [f"run={tmp_path / 'crafted.ckpt'}"], "a checkpoint naming a class outside ssgen"),
            (generate, [f"run={tmp_path / 'crafted_net.ckpt'}"], "a checkpoint naming a network outside ssgen"),
            (generate, [f"run={tmp_path}", "label=sock"], "`ssgen-generate label=sock`"),
            (generate, [f"run={tmp_path}", "n=0"], "`ssgen-generate n=0`"),
            (predict, [f"run={tmp_path}", f"images={good}", f"out={tmp_path / 'p.npz'}"], "`ssgen-predict` on a dir that is no M1/M2 run"),
        ]
        real = load_fashion_mnist()["test_images"][:20].numpy()
        for images, label in ((np.zeros((2, 32, 32), np.uint8), "32x32 images"),
                              (real.astype(np.float32) / 127.5 - 1, "float images in [-1, 1]"),
                              (np.full((2, 28, 28), 300, np.int32), "pixel values above 255"),
                              ((real > 127).astype(np.uint8), "uint8 images scaled to 0/1 before the cast"),
                              (np.zeros((5, 28, 28), np.uint8), "blank (constant) images only")):
            bad = tmp_path / f"bad_{len(cases)}.npz"
            np.savez(bad, images=images)
            cases.append((predict, [f"run={tmp_path}", f"images={bad}", f"out={tmp_path / 'p.npz'}"],
                          f"`ssgen-predict` with {label}"))
        (tmp_path / "shoe.png").write_text("not a PNG")
        (tmp_path / "notes.txt").write_text("not images")
        (tmp_path / "empty").mkdir()
        (tmp_path / "taken").write_text("a file")
        for images, label in (("shoe.png", "a .png file that is not an image"), ("notes.txt", "a text file"),
                              ("empty", "a folder without image files"), ("*.gif", "a glob that matches nothing")):
            cases.append((predict, [f"run={tmp_path}", f"images={tmp_path / images}", f"out={tmp_path / 'p.npz'}"],
                          f"`ssgen-predict images=` {label}"))
        cases += [(predict, [f"run={tmp_path}", f"images={good}", "invert=maybe", f"out={tmp_path / 'p.npz'}"],
                   "`ssgen-predict invert=maybe`"),
                  (generate, [f"run={tmp_path}", f"out_dir={tmp_path / 'taken'}"], "`ssgen-generate out_dir=<a file>`")]
        cases += [(bench, ["section=cpu_main"], "`python -m benchmarks section=cpu_main` (no `out=`)"),
                  (bench, ["concurrent=2", "compare=[torch_threads=1]"], "`python -m benchmarks concurrent=2 compare=[...]`")]
        cases += [(evaluate, [f"run={tmp_path}", "fid_network=fancy"], "`ssgen-evaluate fid_network=fancy`"),
                  (evaluate, [f"run={tmp_path}", "inception_weights=w.pth"], "`ssgen-evaluate inception_weights=...` alone")]
        for main_fn, argv, label in cases:
            rows.append((label, cli_message(main_fn, argv).replace(str(tmp_path), "<dir>")))
        # the Inception checks run once the checkpoint has loaded: called directly, as ssgen-evaluate calls them
        import torch

        pickled = tmp_path / "pickled.pth"
        torch.save({"model": torch.nn.Linear(2, 2)}, pickled)
        for weights, label in ((tmp_path / "missing.pth", "a missing file"), (pickled, "a pickled module")):
            try:
                inception_fid_metric(str(weights))
            except SSGenError as exc:
                rows.append((f"`ssgen-evaluate fid_network=inception inception_weights=` {label}",
                             f"ssgen-evaluate: error: {exc}".replace(str(tmp_path), "<dir>")))
        saved = sys.modules.get("torch_fidelity")
        sys.modules["torch_fidelity"] = None  # type: ignore[assignment]  # as on a machine without the extra
        try:
            inception_fid_metric()
        except SSGenError as exc:
            rows.append(("`ssgen-evaluate fid_network=inception` without torch-fidelity", f"ssgen-evaluate: error: {exc}"))
        finally:
            if saved is None:
                del sys.modules["torch_fidelity"]
            else:
                sys.modules["torch_fidelity"] = saved
        # accepted, with a warning on stderr (the same line ssgen-predict prints after its output)
        mixed = real.copy()
        mixed[[2, 4]] = 0
        mixed[5] //= 8
        mixed[7] = 255 - mixed[7]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputWarning)
            for message in read_images(mixed, source="images.npz").warnings:
                rows.append(("`ssgen-predict` with a few blank, dim or dark-on-light images (accepted)",
                             f"ssgen-predict: warning: {message}"))
    rows.extend(lifecycle_rows())
    rows.extend(records_rows())
    print("# Bad input and the message it gets\n")
    print("Made by `python tools/errors_table.py > docs/errors.md`: each row was run, the message is what it printed.")
    print("Every row has a test, in tests/unit/ (in-process) or tests/e2e/ (the console script, `..._cli.py`):")
    print("test_config.py, test_data.py, test_cli.py, test_generate[_cli].py, test_m1[_cli].py,")
    print("test_reliability[_cli].py, test_evaluate[_cli].py, test_checkpoint_gate[_cli].py, test_lifecycle.py,")
    print("test_images.py, test_api.py, test_bench.py, test_devices[_cli].py, test_data_identity[_cli].py,")
    print("test_storage[_cli].py, test_stops[_cli].py.")
    print("Nothing is written when an input is refused.\n")
    print("| input | message |\n|---|---|")
    for case, message in rows:
        print(f"| {case} | {message.replace('|', '/')} |")
    # the cases only a whole run, a second process or a real file system shows (stops, shared run dirs, model
    # versions, full disks): kept by hand beside this script, so that regenerating the page keeps them
    print()
    print((Path(__file__).resolve().parent / "errors_by_hand.md").read_text(), end="")


if __name__ == "__main__":
    main()
