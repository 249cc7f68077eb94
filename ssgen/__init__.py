"""ssgen: semi-supervised (M1) and class-conditional generative models (DCGAN, WGAN, WGAN-GP) on Fashion-MNIST."""

import os

# Idle OpenMP threads sleep instead of spinning (GNU OpenMP spins by default). On a CPU shared with other work a
# spinning pool fights the other processes for every core: measured on 2 cores with other jobs running, a default
# M1 run trained 4.5 batches/s, 20-40 with this policy (docs/performance.md). It must be set before torch loads its
# OpenMP runtime, so it lives here, in the first module any ssgen entry point imports; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
