"""Graph heads on M1's encoder means: Poisson and Laplace learning on a kNN graph, chosen by cross-validation.

Calder, Cook, Thorpe and Slepčev 2020, "Poisson learning: graph based semi-supervised learning at very low label
rates" (ICML), through the authors' package ``graphlearning`` (its Gaussian kNN weights and graph Laplacians):

* ``poisson``: Poisson learning: solve L u = sum_i (e_{y_i} - mean label) delta_i over the graph (conjugate
  gradient on the normalised Laplacian, as ``graphlearning.ssl.poisson``), label = argmax of u;
* ``poisson_vol``: the same u with class priors (the labelled set's class proportions: uniform for ssgen's
  class-balanced draws) imposed by Calder et al.'s volume label projection (class weights found so that argmax
  gives each class its prior share of the nodes);
* ``laplace``: Laplace learning (Zhu et al. 2003): the harmonic function equal to the one-hot labels on the
  labelled nodes (Jacobi-preconditioned conjugate gradient, as ``graphlearning.ssl.laplace``).

The graph's nodes are ``graph_nodes`` training images (the labelled ones always among them) joined to their k
nearest neighbours (annoy search, seeded: the same run gives the same graph). The test images are NOT nodes
(inductive): a new image joins the stored graph as an unlabelled node with Gaussian edges to its k nearest stored
nodes only, and gets the harmonic extension of the stored solution, sum_j w_ij u_j / sum_j w_ij (what Laplace and
Poisson learning give an unlabelled node whose edges do not feed back into the stored graph). Its label therefore
depends on the image and the run only, never on the order or the other images of a batch. ``transductive_scores``
gives the paper's transductive setting too (test images as unlabelled nodes of one graph), to report beside it.

The head (one of the above, or the RBF-SVM of ``ssgen.models.heads``), its k and its class priors are chosen by
stratified K-fold cross-validation on the N labelled images only: a held-out fold's labelled nodes are solved as
unlabelled nodes and scored; nothing here reads the test labels. All folds (and the fit with all N labels) of one
method are solved together, stacked as columns of one conjugate-gradient run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ssgen.errors import CheckpointError
from ssgen.io import atomic_write, atomic_write_json

GRAPH_HEADS = ("poisson", "poisson_vol", "laplace")  # CV ties go to the earlier one (then smaller k; the SVM last)
NODES_FILE = "graph_nodes.npz"  # checkpoints/: the stored nodes' features (shared by every N)


def head_file(n: int) -> str:
    """checkpoints/ file of the graph head chosen at label budget ``n``: its scores on the stored nodes."""
    return f"graph_head_n{n}.npz"


# ----------------------------------------------------------------------------------------------- the graph
def knn_search(features: np.ndarray, k: int, seed: int = 0, trees: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest neighbours of every row of ``features`` (n, d) float, itself first (distance 0).

    graphlearning's annoy search (``weightmatrix.knnsearch``: 10 trees, 2k candidates per node re-ranked on exact
    float64 distances), with ``AnnoyIndex.set_seed(seed)`` so the graph is the same every time. Returns
    (ind int64 (n, k), dist float64 (n, k)), ascending. Raises ValueError if k > n.
    """
    from annoy import AnnoyIndex

    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    if k > n:
        raise ValueError(f"k={k} neighbours asked of {n} nodes")
    index = AnnoyIndex(x.shape[1], "euclidean")
    index.set_seed(seed)
    for i in range(n):
        index.add_item(i, x[i])
    index.build(trees, n_jobs=1)
    ind = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k))
    for i in range(n):
        candidates = np.array(index.get_nns_by_item(i, min(2 * k, n)), dtype=np.int64)
        d = np.linalg.norm(x[i] - x[candidates], axis=1)
        order = np.argsort(d, kind="stable")[:k]
        ind[i], dist[i] = candidates[order], d[order]
        if ind[i, 0] != i:  # a duplicate image tied with itself: self first, as gl expects
            rest = [j for j in range(k) if ind[i, j] != i][: k - 1]
            ind[i] = np.concatenate([[i], ind[i, rest]])
            dist[i] = np.concatenate([[0.0], dist[i, rest]])
    return ind, dist


def query(stored: np.ndarray, new: np.ndarray, k: int, chunk: int = 2048, margin: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest ``stored`` (n, d) rows of each ``new`` (m, d) row: (ind int64 (m, k), dist float64 (m, k)).

    Candidates by float32 distances (k + ``margin`` per row), re-ranked on float64 distances computed row by row,
    so a row's answer does not depend on the other rows of ``new`` (ties: lower stored index first).
    """
    stored = np.asarray(stored, dtype=np.float32)
    new = np.asarray(new, dtype=np.float32)
    take = min(k + margin, len(stored))
    stored_t = np.ascontiguousarray(stored.T)
    norms = np.einsum("ij,ij->i", stored, stored)
    ind = np.empty((len(new), k), dtype=np.int64)
    dist = np.empty((len(new), k))
    for start in range(0, len(new), chunk):
        block = new[start : start + chunk]
        d2 = norms - 2.0 * (block @ stored_t)
        part = np.argpartition(d2, take - 1, axis=1)[:, :take]
        exact = np.linalg.norm(block[:, None, :].astype(np.float64) - stored[part].astype(np.float64), axis=2)
        order = np.lexsort((part, exact), axis=1)[:, :k]  # by distance, then by index
        ind[start : start + len(block)] = np.take_along_axis(part, order, axis=1)
        dist[start : start + len(block)] = np.take_along_axis(exact, order, axis=1)
    return ind, dist


def gaussian_weights(dist: np.ndarray) -> np.ndarray:
    """graphlearning's self-tuning Gaussian kNN weights exp(-4 d_ij^2 / d_ik^2) (d_ik: the distance to the k-th,
    i.e. last, neighbour) for a (m, k) float distance table; float64 (m, k)."""
    scale = np.maximum(dist[:, -1:] ** 2, 1e-12)
    return np.exp(-4.0 * dist**2 / scale)


@dataclass
class Graph:
    """A kNN graph over ``features`` (n, d) float32: ``ind``/``dist`` (n, k_max) from ``knn_search``."""

    features: np.ndarray
    ind: np.ndarray
    dist: np.ndarray
    seconds: float = 0.0
    _weights: dict[int, sparse.csr_matrix] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, features: np.ndarray, k_max: int, seed: int = 0) -> Graph:
        """The graph for every k <= ``k_max`` (one search); ValueError if the nodes are fewer than k_max + 1."""
        start = time.time()
        features = np.ascontiguousarray(features, dtype=np.float32)
        ind, dist = knn_search(features, k_max + 1, seed)
        return cls(features, ind, dist, time.time() - start)

    @property
    def n(self) -> int:
        return len(self.features)

    def weights(self, k: int) -> sparse.csr_matrix:
        """graphlearning's symmetrised Gaussian kNN weight matrix (n, n) for k neighbours, self-loops removed."""
        if k not in self._weights:
            import graphlearning as gl

            if k + 1 > self.ind.shape[1]:
                raise ValueError(f"k={k} is above this graph's k_max={self.ind.shape[1] - 1}")
            w = gl.weightmatrix.knn(None, k, kernel="gaussian", knn_data=(self.ind[:, : k + 1], self.dist[:, : k + 1]))
            w = sparse.csr_matrix(w)
            w.setdiag(0)
            w.eliminate_zeros()
            self._weights[k] = w
        return self._weights[k]


# ----------------------------------------------------------------------------------------------- solvers
LabelSet = tuple[np.ndarray, np.ndarray]  # (labelled node indices int (L,), their classes int (L,))


def _conjgrad(matvec: Any, b: np.ndarray, tol: float, max_iter: int = 2000) -> np.ndarray:
    """Column-wise conjugate gradient from x0 = 0 for a symmetric positive (semi)definite operator, stopping when
    every column's residual norm is below ``tol`` times its right-hand side's norm."""
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rs = np.einsum("ij,ij->j", r, r)
    goal = (tol**2) * np.maximum(rs, 1e-30)
    for _ in range(max_iter):
        if np.all(rs <= goal):
            break
        ap = matvec(p)
        curvature = np.einsum("ij,ij->j", p, ap)
        alpha = np.where(curvature > 0, rs / np.where(curvature > 0, curvature, 1), 0).astype(b.dtype)
        x += alpha * p
        r -= alpha * ap
        rs_new = np.einsum("ij,ij->j", r, r)
        beta = np.where(rs > 0, rs_new / np.where(rs > 0, rs, 1), 0).astype(b.dtype)
        p = r + beta * p
        rs = rs_new
    return x


def _onehot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[np.asarray(labels, dtype=np.int64)]


def _check_sets(sets: list[LabelSet], n_classes: int) -> None:
    for _, labels in sets:
        if len(np.unique(labels)) != n_classes:
            raise ValueError(f"every label set needs each of the {n_classes} classes among its labelled nodes")


def poisson(weights: sparse.spmatrix, sets: list[LabelSet], n_classes: int, tol: float = 1e-3) -> list[np.ndarray]:
    """Poisson learning (Calder et al. 2020, eq. (3.4)) for several label sets in one solve: scores (n, C) per set.

    L u = b with L = D - W the graph Laplacian and b_i = e_{y_i} - (mean one-hot label) at labelled node i, 0
    elsewhere; solved as graphlearning does (conjugate gradient on D^-1/2 L D^-1/2, u centred to mean 0 on the
    graph). ``weights`` (n, n) symmetric, no self-loops; ValueError if a set lacks a class.
    """
    _check_sets(sets, n_classes)
    n = weights.shape[0]
    degree = np.asarray(weights.sum(axis=1)).ravel()
    scale = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    normalised = (sparse.identity(n) - sparse.diags(scale) @ weights @ sparse.diags(scale)).tocsr().astype(np.float32)
    sources = []
    for nodes, labels in sets:
        onehot = _onehot(labels, n_classes)
        source = np.zeros((n, n_classes))
        source[nodes] = onehot - onehot.mean(axis=0)
        sources.append(source)
    b = (scale[:, None] * np.hstack(sources)).astype(np.float32)
    v = _conjgrad(lambda p: normalised @ p, b, tol)
    u = scale[:, None] * v.astype(np.float64)
    u -= u.mean(axis=0)
    return [u[:, i * n_classes : (i + 1) * n_classes] for i in range(len(sets))]


def laplace(weights: sparse.spmatrix, sets: list[LabelSet], n_classes: int, tol: float = 1e-3) -> list[np.ndarray]:
    """Laplace learning (Zhu et al. 2003; graphlearning.ssl.laplace) for several label sets in one solve: scores
    (n, C) per set, the one-hot labels on the labelled nodes and harmonic (L u = 0) on the others.

    Each set's system L_ff u_f = W_fl y_l on its free nodes, Jacobi-preconditioned, is solved as a masked column
    block of one conjugate-gradient run. ValueError if a set lacks a class.
    """
    _check_sets(sets, n_classes)
    n = weights.shape[0]
    degree = np.asarray(weights.sum(axis=1)).ravel()
    scale = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    normalised = (sparse.identity(n) - sparse.diags(scale) @ weights @ sparse.diags(scale)).tocsr().astype(np.float32)
    free = np.ones((n, len(sets) * n_classes), dtype=np.float32)
    fixed = np.zeros((n, len(sets) * n_classes))
    for i, (nodes, labels) in enumerate(sets):
        free[nodes, i * n_classes : (i + 1) * n_classes] = 0
        fixed[nodes, i * n_classes : (i + 1) * n_classes] = _onehot(labels, n_classes)
    b = (free * (scale[:, None] * (weights @ fixed))).astype(np.float32)
    v = _conjgrad(lambda p: free * (normalised @ p), b, tol)
    u = scale[:, None] * v.astype(np.float64) + fixed
    return [u[:, i * n_classes : (i + 1) * n_classes] for i in range(len(sets))]


def volume_weights(scores: np.ndarray, priors: np.ndarray, tol: float = 1e-3, max_iter: int = 3000,
                   step: float = 0.3) -> np.ndarray:
    """Calder et al.'s volume label projection (graphlearning's ``volume_label_projection``): class weights w (C,)
    float64 such that argmax of (min-max normalised ``scores`` (n, C)) * w labels each class c on about
    ``priors[c]`` of the n nodes (to within ``tol``). graphlearning's update, w -= step (shares - priors),
    w /= w[0], with step 0.3 where it takes 0.1 (measured: a third of the iterations, the same labels), halved
    every 200 iterations without convergence so an oscillation settles."""
    n, n_classes = scores.shape
    norm = scores - scores.min()
    norm = (norm / max(norm.max(), 1e-30)).astype(np.float32)
    w = np.ones(n_classes)
    for iteration in range(1, max_iter + 1):
        shares = np.bincount((norm * w.astype(np.float32)).argmax(axis=1), minlength=n_classes) / n
        gap = shares - priors
        if np.max(np.abs(gap)) <= tol:
            break
        w = w - step * gap
        w = w / w[0]
        if iteration % 200 == 0:
            step /= 2
    return w


def with_priors(scores: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Scores (n, C) whose argmax respects the class ``priors`` (C,) on the nodes: the min-max normalised scores
    times ``volume_weights`` (an increasing affine map per class, so the harmonic extension commutes with it)."""
    norm = scores - scores.min()
    norm = norm / max(norm.max(), 1e-30)
    return norm * volume_weights(scores, priors)


def extend(scores: np.ndarray, ind: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Scores (m, C) of new nodes joined to stored ones: node i has Gaussian edges to the stored nodes ``ind[i]``
    (m, k) at distances ``dist[i]`` (m, k) and gets sum_j w_ij u_j / sum_j w_ij of the stored ``scores`` u (n, C).
    Row i depends on row i of ``ind``/``dist`` only."""
    w = gaussian_weights(dist)
    return np.einsum("mk,mkc->mc", w, scores[ind]) / w.sum(axis=1, keepdims=True)


def solve(head: str, weights: sparse.spmatrix, sets: list[LabelSet], n_classes: int) -> list[np.ndarray]:
    """Scores (n, C) per label set of a graph head in ``GRAPH_HEADS`` (argmax = the labels); ValueError otherwise.
    ``poisson_vol`` takes each set's class proportions as its priors."""
    if head == "laplace":
        return laplace(weights, sets, n_classes)
    if head == "poisson":
        return poisson(weights, sets, n_classes)
    if head == "poisson_vol":
        return [with_priors(u, np.bincount(labels, minlength=n_classes) / len(labels))
                for u, (_, labels) in zip(poisson(weights, sets, n_classes), sets, strict=True)]
    raise ValueError(f"unknown graph head {head!r}; one of {', '.join(GRAPH_HEADS)}")


# ----------------------------------------------------------------------------------------------- CV choice
@dataclass
class GraphChoice:
    """What cross-validation on the labelled nodes chose (``head`` 'svm' or one of ``GRAPH_HEADS``; ``k`` None for
    the SVM), every candidate's CV accuracy (``cv_table``: 'head@k' or 'svm' -> accuracy), and the chosen graph
    head's scores (n, C) float32 on the stored nodes with all N labels (None when the SVM is chosen)."""

    head: str
    k: int | None
    cv_accuracy: float
    cv_table: dict[str, float]
    scores: np.ndarray | None
    seconds: float

    @property
    def params(self) -> dict[str, Any]:
        return {"head": self.head, "k": self.k, "cv": {name: round(value, 4) for name, value in self.cv_table.items()}}


def choose_head(graph: Graph, labelled: np.ndarray, labels: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]],
                ks: tuple[int, ...] = (10,), heads: tuple[str, ...] = GRAPH_HEADS, svm_cv_accuracy: float | None = None,
                n_classes: int = 10) -> GraphChoice:
    """Choose the head by stratified K-fold CV on the labelled nodes only.

    ``labelled`` int (N,) are node indices of ``graph``, ``labels`` int (N,) their classes, ``splits`` the folds as
    (train positions, held-out positions) into them: the SVM's folds, so ``svm_cv_accuracy`` (its CV accuracy on
    those folds) competes on the same held-out images. For every k in ``ks`` and head in ``heads`` the held-out
    fold's nodes are solved as unlabelled nodes; a graph candidate's CV accuracy is the share of held-out nodes it
    labels right. Ties: the earlier head, the smaller k, the SVM last. The winner (if a graph head) is solved once
    more with all N labels (in the same conjugate-gradient run as its folds). ValueError if a fold's training part
    lacks a class.
    """
    start = time.time()
    sets = [(labelled[train], labels[train]) for train, _ in splits] + [(labelled, labels)]
    table: dict[str, float] = {}
    full: dict[str, np.ndarray] = {}
    for k in ks:
        weights = graph.weights(k)
        cache: dict[str, list[np.ndarray]] = {}
        for head in heads:
            if head == "poisson_vol" and "poisson" in cache:  # the same solve, class priors imposed afterwards
                scores = [with_priors(u, np.bincount(lab, minlength=n_classes) / len(lab))
                          for u, (_, lab) in zip(cache["poisson"], sets, strict=True)]
            else:
                scores = solve(head, weights, sets, n_classes)
            cache[head] = scores
            correct = sum(int((s[labelled[held]].argmax(axis=1) == labels[held]).sum())
                          for s, (_, held) in zip(scores, splits, strict=False))
            name = f"{head}@{k}"
            table[name] = correct / sum(len(held) for _, held in splits)
            full[name] = scores[-1]
    if svm_cv_accuracy is not None:
        table["svm"] = float(svm_cv_accuracy)
    best = max(table, key=lambda name: table[name])  # the first maximum: insertion order breaks ties
    head, _, k = best.partition("@")
    scores = full[best].astype(np.float32) if head != "svm" else None
    return GraphChoice(head, int(k) if k else None, table[best], table, scores, time.time() - start)


def transductive_scores(train_features: np.ndarray, test_features: np.ndarray, labelled: np.ndarray,
                        labels: np.ndarray, head: str, k: int, seed: int = 0, n_classes: int = 10) -> np.ndarray:
    """The paper's transductive setting: one graph over ``train_features`` (n, d) and ``test_features`` (m, d), the
    test images as unlabelled nodes, solved with ``head`` at ``k`` from the labelled nodes ``labelled`` (indices
    into train_features) and ``labels``. Returns the test nodes' scores (m, C) float64."""
    graph = Graph.build(np.concatenate([train_features, test_features]), k, seed)
    return solve(head, graph.weights(k), [(labelled, labels)], n_classes)[0][len(train_features):]


def choose_nodes(pool: np.ndarray, labelled: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Graph nodes (indices into the training set, int64): the ``labelled`` ones first, then ``count`` - N others
    drawn from ``pool`` by ``seed`` (all of the pool when count is 0 or above its size)."""
    rest = np.setdiff1d(pool, labelled)
    extra = count - len(labelled)
    if count > 0 and extra < len(rest):
        rest = np.sort(np.random.default_rng(seed).choice(rest, max(extra, 0), replace=False))
    return np.concatenate([labelled, rest]).astype(np.int64)


# ----------------------------------------------------------------------------------------------- saved heads
def save_nodes(checkpoints: Path, features: np.ndarray, nodes: np.ndarray) -> Path:
    """``checkpoints/graph_nodes.npz``: ``features`` float32 (n, d) of the stored nodes and ``nodes`` int64 (n,),
    their training-set indices (plain arrays: loaded with allow_pickle=False)."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, features=np.asarray(features, dtype=np.float32), nodes=np.asarray(nodes, dtype=np.int64))

    return atomic_write(Path(checkpoints) / NODES_FILE, write)


def save_head(checkpoints: Path, n: int, choice: GraphChoice, node_set: str) -> Path:
    """``checkpoints/graph_head_n<N>.npz``: the chosen graph head's scores float32 (n_nodes, C) on the stored nodes
    (``node_set``: the key of the node file these rows belong to), with a JSON sidecar naming the head and k."""
    if choice.scores is None:
        raise ValueError("the SVM was chosen: there is no graph head to save")

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, scores=choice.scores.astype(np.float32))

    path = atomic_write(Path(checkpoints) / head_file(n), write)
    atomic_write_json(path.with_suffix(".json"), {"head": choice.head, "k": choice.k, "nodes": node_set})
    return path


@dataclass
class StoredGraphHead:
    """A saved graph head: labels for new encoder means by joining them to the stored graph (``predict``)."""

    features: np.ndarray  # (n, d) float32: the stored nodes
    scores: np.ndarray  # (n, C) float32: the chosen head's solution on them
    head: str
    k: int

    @classmethod
    def load(cls, checkpoints: str | Path, n: int) -> StoredGraphHead:
        """The head saved for label budget ``n``; CheckpointError (one line) if a file is missing or unreadable."""
        checkpoints = Path(checkpoints)
        try:
            with np.load(checkpoints / NODES_FILE, allow_pickle=False) as nodes, \
                    np.load(checkpoints / head_file(n), allow_pickle=False) as head:
                features, scores = nodes["features"], head["scores"]
            meta = json.loads((checkpoints / head_file(n)).with_suffix(".json").read_text())
        except (OSError, KeyError, ValueError) as exc:
            raise CheckpointError(f"{checkpoints} has no readable graph head for N={n} ({type(exc).__name__}: {exc}); "
                                  "retrain the run or re-copy its checkpoints/") from exc
        if len(features) != len(scores):
            raise CheckpointError(f"{checkpoints}: {NODES_FILE} and {head_file(n)} disagree on the node count")
        return cls(features, scores, str(meta["head"]), int(meta["k"]))

    def decision_scores(self, features: np.ndarray) -> np.ndarray:
        """Scores (m, C) float64 of new encoder means (m, d): each joins the stored graph alone (``extend``)."""
        ind, dist = query(self.features, features, self.k)
        return extend(self.scores.astype(np.float64), ind, dist)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Class indices (m,) int64 of new encoder means (m, d), each independent of the others."""
        return self.decision_scores(features).argmax(axis=1).astype(np.int64)


# ----------------------------------------------------------------------------------------------- the run's step
INDUCTIVE = ("inductive: the graph's nodes are {nodes} training images (every label budget's labelled images among "
             "them); each test image joins it alone, as an unlabelled node with edges to its k nearest stored nodes")
TRANSDUCTIVE = "transductive: the same training nodes plus the 10k test images as unlabelled nodes of one graph"


class FeatureGraph:
    """One kNN graph per feature set (M1's encoder means, or the raw pixels' principal components), shared by every
    label budget N and every CV fold, with the test images' k_max nearest stored nodes found once.

    Args:
        train_features: (n_train, d) float, every training image's features.
        test_features: (m, d) float, the test images' (joined to the graph only to be scored).
        nodes: int64 (n,) training indices that become the graph's nodes (``choose_nodes``).
        k_max: the largest k of the CV grid.
        seed: the annoy search's seed.
    """

    def __init__(self, train_features: np.ndarray, test_features: np.ndarray, nodes: np.ndarray, k_max: int,
                 seed: int = 0) -> None:
        start = time.time()
        self.nodes, self.k_max, self.seed = np.asarray(nodes, dtype=np.int64), k_max, seed
        self.graph = Graph.build(train_features[self.nodes], k_max, seed)
        self.position = np.full(len(train_features), -1, dtype=np.int64)
        self.position[self.nodes] = np.arange(len(self.nodes))
        self.test_features = np.asarray(test_features, dtype=np.float32)
        self.test_ind, self.test_dist = query(self.graph.features, self.test_features, k_max)
        self.seconds = time.time() - start
        self._transductive: Graph | None = None

    def test_scores(self, choice: GraphChoice) -> np.ndarray:
        """The test images' scores (m, C) under the chosen graph head, each image joined to the graph alone."""
        k = int(choice.k or self.k_max)
        return extend(choice.scores.astype(np.float64), self.test_ind[:, :k], self.test_dist[:, :k])

    def transductive_test_scores(self, choice: GraphChoice, labelled: np.ndarray, labels: np.ndarray,
                                 n_classes: int) -> np.ndarray:
        """The paper's setting: the chosen head re-solved on one graph of the nodes and the test images (built once,
        on first use); the test nodes' scores (m, C)."""
        if self._transductive is None:
            self._transductive = Graph.build(np.concatenate([self.graph.features, self.test_features]), self.k_max,
                                             self.seed)
        k = int(choice.k or self.k_max)
        scores = solve(choice.head, self._transductive.weights(k), [(self.position[labelled], labels)], n_classes)[0]
        return scores[self.graph.n :]

    def choose(self, labelled: np.ndarray, labels: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]],
               ks: tuple[int, ...], svm_cv_accuracy: float | None, n_classes: int) -> GraphChoice:
        """``choose_head`` for the training images ``labelled`` (indices into the training set, all of them nodes)."""
        positions = self.position[labelled]
        if (positions < 0).any():
            raise ValueError("every labelled image must be a node of the graph")
        return choose_head(self.graph, positions, labels, splits, ks, GRAPH_HEADS, svm_cv_accuracy, n_classes)
