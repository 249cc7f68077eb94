"""Re-score saved M1 checkpoints with the SVM head on this machine, and optionally probe a self-training head.

    python tools/probe_heads.py outputs/m1_study/conv80_seed{0,1,2}.ckpt                  # seeds from the names
    python tools/probe_heads.py outputs/m1_study/conv80_seed{0,1}.ckpt --n 100 --self-training

For each checkpoint (its seed read from `seed<k>` in the path), every N draws the labelled subset the data
module draws for (N, seed), fits ``ssgen.models.heads.fit_svm`` (C, gamma, scaling by 5-fold CV on that subset
only) and prints the CV and test accuracy. This is what the ``svm_head`` callback does at the end of
training, without retraining anything. That makes it a check on checkpoints trained elsewhere (e.g. on a
GPU) and the source of their labelled-set CV.

``--self-training`` also fits sklearn's ``SelfTrainingClassifier`` around the CV-chosen SVC, over 10,000
unlabelled training encodings, at thresholds 0.9 and 0.7. docs/results.md reports this probe; it is not a
head of ``SVMHead``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

import numpy as np
import torch
from sklearn.base import clone
from sklearn.semi_supervised import SelfTrainingClassifier

from ssgen.data import load_fashion_mnist, sample_label_subset
from ssgen.models.checkpoints import load_module
from ssgen.models.heads import classification_metrics, fit_svm, score


def self_training_accuracy(svm: object, labelled: np.ndarray, labels: np.ndarray, unlabelled: np.ndarray,
                           test: np.ndarray, test_labels: np.ndarray, threshold: float, seed: int) -> float:
    """Test accuracy of self-training around a copy of the fitted SVM pipeline; features (N, d)."""
    estimator = clone(svm)
    estimator.set_params(svc__probability=True, svc__random_state=seed)
    features = np.concatenate([labelled, unlabelled])
    targets = np.concatenate([labels, np.full(len(unlabelled), -1)])
    model = SelfTrainingClassifier(estimator, threshold=threshold, max_iter=10).fit(features, targets)
    return classification_metrics(test_labels, model.predict(test))["accuracy"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="M1 .ckpt files or run dirs, 'seed<k>' in each path")
    parser.add_argument("--n", type=int, nargs="+", default=[100, 600, 1000, 3000], help="label budgets")
    parser.add_argument("--self-training", action="store_true", help="also probe the self-training head")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = load_fashion_mnist()
    train_labels, test_labels = data["train_labels"].numpy(), data["test_labels"].numpy()
    rows = []
    for path in args.checkpoints:
        found = re.search(r"seed[=_]?(\d+)", path)
        if not found:
            sys.exit(f"probe_heads: no 'seed<k>' in {path}; name the checkpoint after the seed it was trained with")
        seed = int(found.group(1))
        model = load_module(path)
        train_means = model.encode_means(data["train_images"]).numpy()
        test_means = model.encode_means(data["test_images"]).numpy()
        for n in args.n:
            indices = sample_label_subset(train_labels, n, seed)
            fit = fit_svm(train_means[indices], train_labels[indices], seed, 5)
            row = {"checkpoint": path, "seed": seed, "n_labels": n, "cv_accuracy": fit.cv_accuracy,
                   "test_accuracy": score(fit, test_means, test_labels)["accuracy"], "params": fit.params}
            if args.self_training:
                pool = np.setdiff1d(np.arange(len(train_labels)), indices)
                unlabelled = np.random.default_rng(seed).choice(pool, 10_000, replace=False)
                row["self_training"] = {
                    str(threshold): self_training_accuracy(fit.model, train_means[indices], train_labels[indices],
                                                           train_means[unlabelled], test_means, test_labels,
                                                           threshold, seed)
                    for threshold in (0.9, 0.7)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    for n in args.n:
        cv = [row["cv_accuracy"] for row in rows if row["n_labels"] == n]
        test = [row["test_accuracy"] for row in rows if row["n_labels"] == n]
        print(f"N={n}: labelled-set CV {np.mean(cv):.3f}, test {np.mean(test):.3f} ± {np.std(test, ddof=1) if len(test) > 1 else 0:.3f}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=1)


if __name__ == "__main__":
    main()
