"""K copies of one model's training at once, each timing batches 30-230 of ssgen's model and data module in a
Lightning Trainer (no logger, checkpoints or progress bar): how runs that share the CPU slow each other.

    python tools/concurrency_probe.py 1 m1 TB=1                       # alone, with the ThreadBudget callback
    python tools/concurrency_probe.py 2 m1 TB=1                       # two side by side
    python tools/concurrency_probe.py 2 wgan_gp/dcgan OMP_WAIT_POLICY=PASSIVE   # ... or any environment

Prints each copy's batches/s and its torch thread count at the end. The numbers of docs/design/performance.md's thread
policy table came from this script (the bench's ``--concurrent`` is the maintained measurement).
"""

from __future__ import annotations

import os
import subprocess
import sys

CHILD = r'''
import os, sys, tempfile, time
from pathlib import Path

import hydra
import lightning as L
import torch

from benchmarks import compose_bench_config
from ssgen.callbacks.thread_budget import ThreadBudget
from ssgen.train import build_model

cfg = compose_bench_config(sys.argv[1], Path(tempfile.mkdtemp()), [])
model, datamodule = build_model(cfg), hydra.utils.instantiate(cfg.data)


class Clock(L.Callback):
    def __init__(self):
        self.times = {}

    def on_train_batch_start(self, trainer, module, batch, index):
        if index in (30, 230):
            self.times[index] = time.perf_counter()
        if index == 230:
            raise KeyboardInterrupt  # Lightning ends the fit gracefully


clock = Clock()
callbacks = [ThreadBudget(), clock] if os.environ.get("TB") else [clock]
trainer = L.Trainer(max_epochs=1, limit_train_batches=231, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks, accelerator="cpu")
try:
    trainer.fit(model, datamodule=datamodule)
except (KeyboardInterrupt, SystemExit):
    pass
print("RATE", 200 / (clock.times[230] - clock.times[30]), torch.get_num_threads())
'''


def main() -> None:
    copies, spec = int(sys.argv[1]), sys.argv[2]
    env = {**os.environ, **dict(item.split("=", 1) for item in sys.argv[3:])}
    processes = [subprocess.Popen([sys.executable, "-c", CHILD, spec], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True) for _ in range(copies)]
    rates = []
    for process in processes:
        out = process.communicate()[0]
        found = [line for line in out.splitlines() if line.startswith("RATE")]
        rates.append(found[0] if found else "FAILED " + out[-300:])
    print(copies, spec, sys.argv[3:], rates)


if __name__ == "__main__":
    main()
