"""ssgen-generate: every error path (one line, exit 2) and the samples a checkpoint gives, calling ``main``
in-process; the console script as a subprocess (a round trip, a missing checkpoint): tests/e2e/test_generate_cli.py.

    python -m pytest tests/unit/test_generate.py -q -p no:cacheprovider

The session's tiny WGAN-GP (width 8, 3 batches) and M1 runs (conftest: ``gan_run``, ``m1_run``) are read.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ssgen.data import CLASS_NAMES
from ssgen.generate import main


def run_main(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """main(args) in-process: (exit status, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def test_single_label_by_name_and_index_and_seeding(gan_run, tmp_path, capsys):
    by_name, by_index, other_seed = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    assert run_main(capsys, f"run={gan_run}/checkpoints/last.ckpt", "label=Dress", "n=4", f"npz={by_name}")[0] == 0
    assert run_main(capsys, f"run={gan_run}", "label=3", "n=4", f"npz={by_index}")[0] == 0
    assert run_main(capsys, f"run={gan_run}", "label=dress", "n=4", "seed=9", f"npz={other_seed}")[0] == 0
    first, second, third = (np.load(path) for path in (by_name, by_index, other_seed))
    assert first["labels"].tolist() == [CLASS_NAMES.index("dress")] * 4
    assert np.array_equal(first["images"], second["images"])  # same checkpoint, label and seed: same images
    assert not np.array_equal(first["images"], third["images"])
    assert not (tmp_path / "samples.png").exists()  # npz only: no PNG unless asked


def test_out_dir_writes_one_png_per_image_as_the_api_samples_them(gan_run, tmp_path, capsys):
    import ssgen
    from ssgen.api import GAN

    pngs, npz = tmp_path / "pngs", tmp_path / "s.npz"
    code, err = run_main(capsys, f"run={gan_run}", "label=bag,0", "n=3", "seed=2", f"out_dir={pngs}", f"npz={npz}")
    assert code == 0, err
    assert sorted(path.name for path in pngs.iterdir()) == ["bag_0.png", "bag_1.png", "bag_2.png", "t_shirt_0.png",
                                                            "t_shirt_1.png", "t_shirt_2.png"]
    assert not (tmp_path / "samples.png").exists()  # no grid unless asked
    data = np.load(npz)
    assert np.array_equal(np.asarray(Image.open(pngs / "bag_1.png")), data["images"][1])
    assert np.array_equal(np.asarray(Image.open(pngs / "t_shirt_0.png")), data["images"][3])
    model = ssgen.load(gan_run)
    assert isinstance(model, GAN) and (model.info.method, model.info.status) == ("wgan_gp", "ok")
    samples = model.sample("bag,0", n=3, seed=2)
    assert np.array_equal(samples.images, data["images"]) and np.array_equal(samples.labels, data["labels"])
    (tmp_path / "taken").write_text("a file")
    code, err = run_main(capsys, f"run={gan_run}", f"out_dir={tmp_path / 'taken'}")
    assert code == 2 and "out_dir=" in err and "is a file; give a folder" in err and err.count("\n") == 1


def test_gan_checkpoint_loads_on_cpu_with_weights_only(gan_run):
    from ssgen.models.gan import WGANGP

    model = WGANGP.load_from_checkpoint(gan_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert model.sample(torch.tensor([1, 2]), seed=0).shape == (2, 1, 28, 28)


@pytest.mark.parametrize("args, message", [
    (["label=jacket"], "label='jacket' is unknown; use all, an index 0-9 or one of: t_shirt trouser"),
    (["label=10"], "label='10' is unknown"),
    (["n=0"], "n=0 must be >= 1"),
    (["n=three"], "n='three' is not an integer"),
    (["colour=red"], "unknown argument 'colour=red'"),
])
def test_bad_arguments_give_one_line_and_exit_2(gan_run, tmp_path, capsys, args, message):
    code, err = run_main(capsys, f"run={gan_run}", f"out={tmp_path / 'x.png'}", *args)
    assert code == 2 and err.startswith("ssgen-generate: error: ") and message in err
    assert err.count("\n") == 1 and not list(tmp_path.iterdir())


def test_truncated_checkpoint_and_empty_run_dir(gan_run, tmp_path, capsys):
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes((gan_run / "checkpoints" / "last.ckpt").read_bytes()[:2000])
    code, err = run_main(capsys, f"run={truncated}", f"out={tmp_path / 'x.png'}")
    assert code == 2 and "truncated or not a PyTorch checkpoint" in err and err.count("\n") == 1
    code, err = run_main(capsys, f"run={tmp_path}", f"out={tmp_path / 'x.png'}")
    assert code == 2 and "holds no checkpoints/best.ckpt or checkpoints/last.ckpt" in err
    assert not (tmp_path / "x.png").exists()


def test_run_dir_prefers_best_checkpoint(gan_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(gan_run / "checkpoints", run_dir / "checkpoints")
    (run_dir / "checkpoints" / "best.ckpt").write_bytes(b"not a checkpoint")
    code, err = run_main(capsys, f"run={run_dir}", f"out={tmp_path / 'x.png'}")
    assert code == 2 and "checkpoints/best.ckpt" in err and err.count("\n") == 1  # best.ckpt was tried, not last


def test_a_checkpoint_that_is_not_a_gan(m1_run, tmp_path, capsys):
    # a checkpoint naming a non-GAN module is refused before any model is built
    foreign = tmp_path / "vae.ckpt"
    torch.save({"ssgen_module": "ssgen.models.m1.M1VAE", "hyper_parameters": {}, "state_dict": {}}, foreign)
    code, err = run_main(capsys, f"run={foreign}", f"out={tmp_path / 'x.png'}")
    assert code == 2 and "is a M1VAE checkpoint, not a class-conditional generator" in err and err.count("\n") == 1
    # the real M1 run: refused with one line too (whichever check catches it first)
    code, err = run_main(capsys, f"run={m1_run}", f"out={tmp_path / 'x.png'}")
    assert code == 2 and err.startswith("ssgen-generate: error: ") and err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


@pytest.mark.slow
def test_sweep_figures_from_the_run(gan_run, tmp_path, capsys):
    from ssgen.report import main as report_main

    report_main(["figures", f"runs={gan_run.parent}", f"out={tmp_path / 'figures'}"])
    written = sorted(path.name for path in (tmp_path / "figures").iterdir())
    # no FID recorded: arch=dcgan's samples, and its method's 10x10 class grid
    assert written == ["gan_grid_wgan_gp.png", "gan_losses_dcgan.png", "gan_samples.png"]
    assert Image.open(tmp_path / "figures" / "gan_samples.png").format == "PNG"
    with pytest.raises(SystemExit) as exit_info:
        report_main(["figures", f"runs={tmp_path / 'figures'}", f"out={tmp_path / 'more'}"])  # no runs there
    assert exit_info.value.code == 2 and "no GAN runs" in capsys.readouterr().err


def test_help_prints_usage(capsys):
    main(["--help"])
    assert "ssgen-generate run=" in capsys.readouterr().out


def test_seed_band_stays_within_the_steps_every_seed_reached():
    import numpy as np

    from ssgen.reporting.figures import seed_band

    steps, mean, low, high = seed_band([(np.array([0, 10, 20, 30]), np.array([1.0, 2.0, 3.0, 4.0])),
                                        (np.array([0, 10, 20]), np.array([3.0, 4.0, 5.0]))])
    assert steps.tolist() == [0, 10, 20]
    assert mean.tolist() == [2.0, 3.0, 4.0] and low.tolist() == [1.0, 2.0, 3.0] and high.tolist() == [3.0, 4.0, 5.0]
