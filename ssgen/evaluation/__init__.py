"""How good a generator is: the evaluator network, metric math, a generator's whole report, Inception FID.

    evaluator.py  the feature network behind FID/KID and class-consistency, one per data set, cached as safetensors
    metrics.py    metric math only: FID, KID, class-consistency, per-class FID, precision / recall, class spread
    scoring.py    a generator's whole report: its sampler, the test data, the real-data floor
    inception.py  the standard Inception FID (ssgen-evaluate fid_network=inception), a different scale

Training reaches this package only through the GAN metrics callback (``ssgen.callbacks.generative_metrics``).
"""
