"""The graph heads (ssgen.models.graph_heads; Calder et al. 2020): known answers on small graphs, agreement with
graphlearning, a CV choice that never sees the test set, and labels of new images independent of their batch."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from ssgen.errors import ConfigError
from ssgen.models import graph_heads as G
from ssgen.models.heads import _cv


def path_graph(n: int) -> sparse.csr_matrix:
    """A path 0 - 1 - ... - n-1 with unit weights."""
    edges = sparse.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], shape=(n, n))
    return sparse.csr_matrix(edges)


def blobs(per_class: int = 150, n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = 10.0 * np.eye(n_classes, 5)
    x = np.concatenate([rng.normal(centres[c], 1.0, (per_class, 5)) for c in range(n_classes)]).astype(np.float32)
    return x, np.repeat(np.arange(n_classes), per_class)


def test_laplace_on_a_path_is_the_linear_interpolation():
    # labels 0 at one end, 1 at the other: the harmonic function is linear along the path
    scores = G.laplace(path_graph(5), [(np.array([0, 4]), np.array([0, 1]))], n_classes=2, tol=1e-8)[0]
    np.testing.assert_allclose(scores[:, 1], [0, 0.25, 0.5, 0.75, 1], atol=1e-5)
    np.testing.assert_allclose(scores.sum(axis=1), 1, atol=1e-5)


def test_poisson_on_a_path_splits_it_in_the_middle():
    # Poisson learning's u solves L u = b: on a path labelled at its ends the class scores cross in the middle
    labels = G.poisson(path_graph(9), [(np.array([0, 8]), np.array([0, 1]))], n_classes=2, tol=1e-8)[0].argmax(axis=1)
    assert labels[:4].tolist() == [0] * 4 and labels[5:].tolist() == [1] * 4


@pytest.mark.parametrize("head", G.GRAPH_HEADS)
def test_every_head_labels_separated_clusters_from_one_label_each(head):
    x, y = blobs()
    graph = G.Graph.build(x, 10)
    labelled = np.array([0, 150, 300])
    scores = G.solve(head, graph.weights(10), [(labelled, y[labelled])], n_classes=3)[0]
    assert (scores.argmax(axis=1) == y).all()


@pytest.mark.parametrize("head", G.GRAPH_HEADS)
def test_the_solvers_agree_with_graphlearning(head):
    gl = pytest.importorskip("graphlearning")
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(c, 1.0, (200, 4)) for c in range(4)]) * 1.5
    y = np.repeat(np.arange(4), 200)
    graph = G.Graph.build(x, 10)
    w = graph.weights(10)
    labelled = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(4)])
    model = {"poisson": lambda: gl.ssl.poisson(w, solver="conjugate_gradient"), "laplace": lambda: gl.ssl.laplace(w),
             "poisson_vol": lambda: gl.ssl.poisson(w, class_priors=np.full(4, 0.25), solver="conjugate_gradient")}[head]()
    theirs = model.fit_predict(labelled, y[labelled])
    ours = G.solve(head, w, [(labelled, y[labelled])], n_classes=4)[0].argmax(axis=1)
    assert (theirs == ours).mean() > 0.98  # both stop their solvers at a tolerance: a few boundary nodes may differ


def test_stacked_label_sets_give_the_same_answer_as_one_at_a_time():
    x, y = blobs(seed=2)
    w = G.Graph.build(x, 10).weights(10)
    sets = [(np.array([0, 150, 300]), np.array([0, 1, 2])), (np.array([5, 155, 305, 7]), np.array([0, 1, 2, 0]))]
    for solver in (G.poisson, G.laplace):
        together = solver(w, sets, 3, tol=1e-8)
        for stacked, one in zip(together, sets, strict=True):
            np.testing.assert_allclose(stacked, solver(w, [one], 3, tol=1e-8)[0], atol=1e-4)


def test_a_set_missing_a_class_is_refused():
    with pytest.raises(ValueError, match="each of the 3 classes"):
        G.poisson(path_graph(4), [(np.array([0, 3]), np.array([0, 1]))], n_classes=3)


def feature_graph(test_features: np.ndarray) -> tuple[G.FeatureGraph, np.ndarray, np.ndarray]:
    x, y = blobs(per_class=100, seed=3)
    rng = np.random.default_rng(0)
    labelled = np.concatenate([rng.choice(np.flatnonzero(y == c), 6, replace=False) for c in range(3)])
    nodes = G.choose_nodes(np.arange(len(x)), labelled, 200, seed=0)
    return G.FeatureGraph(x, test_features, nodes, 10), labelled, y[labelled]


def test_the_cv_choice_never_reads_the_test_images():
    # choose() takes no test labels at all; the test images' features (here: real ones vs poison) change nothing
    x, _ = blobs(per_class=30, seed=4)
    poison = np.full_like(x, 1e6)
    choices = []
    for test in (x, poison):
        graph, labelled, labels = feature_graph(test)
        splits = list(_cv(labels, 3, 0).split(np.zeros(len(labels)), labels))
        choice = graph.choose(labelled, labels, splits, (5, 10), svm_cv_accuracy=0.5, n_classes=3)
        choices.append((choice.head, choice.k, choice.cv_table, choice.scores.tobytes()))
    assert choices[0] == choices[1]
    assert set(choices[0][2]) == {f"{h}@{k}" for h in G.GRAPH_HEADS for k in (5, 10)} | {"svm"}


def test_the_svm_wins_when_its_cv_accuracy_is_higher_and_ties_go_to_the_graph():
    graph, labelled, labels = feature_graph(np.zeros((3, 5), dtype=np.float32))
    splits = list(_cv(labels, 3, 0).split(np.zeros(len(labels)), labels))
    assert graph.choose(labelled, labels, splits, (10,), 1.01, 3).head == "svm"
    tie = graph.choose(labelled, labels, splits, (10,), 1.0, 3)  # clusters this clear: a graph head scores 1.0
    first_best = next(name for name, value in tie.cv_table.items() if value == 1.0)
    assert first_best != "svm" and f"{tie.head}@{tie.k}" == first_best and tie.scores is not None


def test_predict_gives_each_image_the_same_label_whatever_its_batch(tmp_path):
    x, y = blobs(per_class=100, seed=5)
    test, test_y = blobs(per_class=40, seed=6)
    graph, labelled, labels = feature_graph(test)
    splits = list(_cv(labels, 3, 0).split(np.zeros(len(labels)), labels))
    choice = graph.choose(labelled, labels, splits, (10,), None, 3)
    G.save_nodes(tmp_path, graph.graph.features, graph.nodes)
    G.save_head(tmp_path, 18, choice, G.NODES_FILE)
    head = G.StoredGraphHead.load(tmp_path, 18)
    whole = head.predict(test)
    assert (whole == test_y).mean() > 0.95
    np.testing.assert_array_equal(whole, graph.test_scores(choice).argmax(axis=1))  # the callback's own scoring
    order = np.random.default_rng(0).permutation(len(test))
    np.testing.assert_array_equal(head.predict(test[order]), whole[order])  # reordered
    np.testing.assert_array_equal(head.predict(test[:7]), whole[:7])  # other batch mates
    np.testing.assert_array_equal(np.concatenate([head.predict(test[i : i + 1]) for i in range(5)]), whole[:5])


def test_a_missing_graph_head_is_a_checkpoint_error(tmp_path):
    from ssgen.errors import CheckpointError

    with pytest.raises(CheckpointError, match="no readable graph head for N=100"):
        G.StoredGraphHead.load(tmp_path, 100)


def test_the_transductive_setting_puts_the_test_images_in_the_graph():
    x, y = blobs(per_class=60, seed=7)
    test, test_y = blobs(per_class=20, seed=8)
    labelled = np.array([0, 60, 120])
    scores = G.transductive_scores(x, test, labelled, y[labelled], "poisson", 10, n_classes=3)
    assert scores.shape == (60, 3) and (scores.argmax(axis=1) == test_y).all()


def test_choose_nodes_keeps_every_labelled_image_first():
    nodes = G.choose_nodes(np.arange(100), np.array([50, 3]), 10, seed=0)
    assert nodes[:2].tolist() == [50, 3] and len(nodes) == 10 and len(set(nodes.tolist())) == 10
    assert len(G.choose_nodes(np.arange(100), np.array([3]), 0, seed=0)) == 100  # 0: every image


def test_label_spreading_is_retired_with_one_line():
    from ssgen.callbacks.svm_head import SVMHead

    with pytest.raises(ConfigError, match="retired.*graph heads"):
        SVMHead(transductive=True)


def test_ssgen_predict_on_a_shuffled_test_copy_gives_the_recorded_accuracy(m1_run, test_set, tmp_path):
    """Through the console entry point: each N's best head (a graph head or the SVM) on the test images in another
    order scores exactly what results.json records for it."""
    import json

    from ssgen.predict import main

    images, labels = test_set
    order = np.random.default_rng(0).permutation(len(images))
    np.savez(tmp_path / "shuffled.npz", images=np.asarray(images)[order])
    recorded = json.loads((m1_run / "results.json").read_text())
    assert "inductive" in recorded["graph"]["setting"] and "test images" in recorded["graph"]["transductive"]
    for n, heads in recorded["heads"].items():
        main([f"run={m1_run}", f"images={tmp_path / 'shuffled.npz'}", f"out={tmp_path / f'p{n}.npz'}", f"n_labels={n}"])
        predicted = np.load(tmp_path / f"p{n}.npz")["labels"]
        assert (predicted == np.asarray(labels)[order]).mean() == heads["m1_best"]["accuracy"]
