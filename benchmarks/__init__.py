"""Training throughput of the project's Lightning loop against a plain PyTorch loop of the same networks.

    python -m benchmarks                                   # every model, printed (nothing is written)
    python -m benchmarks models=m1,wgan_gp/dcgan out=outputs/performance.md section=cpu_main   # write a table
    python -m benchmarks quick=true                        # 1-minute smoke run
    python -m benchmarks models=m1 concurrent=4            # 4 copies of 'ours' at once against one alone
    python -m benchmarks models=m1,wgan_gp/dcgan profile_only=true
    python -m benchmarks models=m1,wgan_gp/dcgan compare=[trainer.precision=bf16-mixed,torch_threads=1]
                                                            # settings raced against the default, 'ours' arm only

Two arms per model, built from the composed Hydra config (conf/train.yaml + ``method=<m> arch=<a>``):

* ours: ``ssgen.run.build.build_model(cfg)``, ``hydra.utils.instantiate(cfg.data)``, and a Trainer built as
  ``ssgen.run.build.build_trainer`` builds it (cfg.trainer, TensorBoard logger, the checkpoint and progress-bar
  callbacks, the GANs' FailedConvergence check). Switched off, because they are per-epoch evaluations and
  not the training step: the method's ``svm_head`` (M1), ``quality`` (FID/KID) and ``best_checkpoint`` (it
  monitors FID). The model summary is off; stdout (the progress bar) and stderr go to /dev/null during
  the fit, so the bar still formats and writes its text.
* plain: a fresh ``build_model(cfg)`` (same networks, same ``configure_optimizers``), fed by the same
  in-memory ``TensorBatches`` stream, trained by a plain PyTorch loop (no Trainer, callbacks or logging) that
  calls the module's own per-batch math: ``M1VAE.loss_terms`` (binarisation, KL weight, free bits) and
  ``ConditionalGAN.update`` (the schedule, the method's losses, weight clipping, the generator's EMA), with
  ``ssgen.models.gan.toggled_plain`` and ``Tensor.backward`` where Lightning supplies ``toggled_optimizer`` and
  ``manual_backward``. The two arms cannot drift apart (tests/unit/models/test_plain_twin.py: one step of each
  gives the same losses and weights).

Each window times a number of training batches between two ``on_train_batch_start`` calls (ours) or loop
iterations (plain), after ``warmup`` batches of the same run. A first run of each arm is discarded and sizes
the windows to ``window_s`` seconds (``batches`` fixes the count instead). Then ``repeats`` pairs: ours
and plain back to back, the order alternating, so load from other processes and its drift hit both alike.
Throughputs are medians; the ratio is the geometric mean of the pairs' ratios with a 95% t-interval
(``ratio_interval``). Images/s counts real training images (a WGAN generator step consumes none). Peak memory
is the process RSS sampled every 10 ms during the window (and CUDA ``max_memory_allocated`` on a GPU).

``concurrent K`` runs copies of the 'ours' arm as separate processes (``copy_of``, threads as ssgen-train
sets them): one alone, then K at once, and reports each copy's images/s as a fraction of the lone copy's.

Nothing is written unless ``out FILE`` is given: then the results go between ``<!-- bench:NAME:begin -->``
and ``<!-- bench:NAME:end -->`` of FILE (``section NAME``, default 'main'), leaving the rest of it alone.

The package, one concern a module: ``config`` (the models, their composed configs), ``measure`` (a timed window),
``arms`` (ours and plain), ``stats`` (the ratio's interval), ``runner`` (one model, paired windows; ``compare``),
``profiling`` (``profile``), ``concurrency`` (``concurrent``), ``report`` (the markdown, ``out``), ``cli``
(the command line); ``__main__`` runs it. The bench is a user of ssgen, never used by it: no module outside
``benchmarks`` imports it.
"""

from benchmarks.cli import main, parse_args
from benchmarks.config import compose_bench_config
from benchmarks.stats import RatioInterval, ratio_interval

__all__ = ["RatioInterval", "compose_bench_config", "main", "parse_args", "ratio_interval"]
