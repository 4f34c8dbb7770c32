"""Grouping unit-length vectors when the number of groups is not known.

Spherical k-means (cosine similarity, k-means++ seeding from a fixed seed) is run for each k
of a range; the k with the best mean silhouette wins. The silhouette is computed from cluster
sums (a vector's mean cosine similarity to a cluster's members is its dot product with the
members' sum divided by their count), so it costs ``n·k·d``, not ``n²``. A vector that sits
closer to another group than to its own (negative silhouette) and the members of groups
smaller than ``min_size`` are left unclustered (label ``-1``) rather than forced into a group.
Everything is deterministic for the same input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEED = 16
MAX_K = 30
SELECT_SAMPLE = 2000  # k is chosen on at most this many vectors (an even, fixed sample)
SMALL = 1000  # up to this many vectors, more seeded runs (cheap) make the result steadier


@dataclass(frozen=True, slots=True)
class Clustering:
    labels: np.ndarray  # one per vector; -1: unclustered
    k: int  # groups k-means was asked for
    silhouette: float  # mean silhouette of the chosen k


def kmeans(x: np.ndarray, k: int, *, iters: int = 30, n_init: int = 2) -> np.ndarray:
    """Spherical k-means labels (the best of ``n_init`` seeded runs by total similarity); a
    run stops when fewer than 1 in 1,000 vectors change group."""
    rng = np.random.default_rng(SEED + k)
    best, best_score = np.zeros(len(x), dtype=np.int64), -np.inf
    for _ in range(n_init):
        centres = _seed(x, k, rng)
        labels = np.full(len(x), -1)
        for _ in range(iters):
            sims = dots(x, centres)
            new = sims.argmax(axis=1)
            moved = int((new != labels).sum())
            labels = new
            if moved * 1000 < len(x):
                break
            centres = _centres(x, labels, k, sims)
        score = float(dots(x, centres)[np.arange(len(x)), labels].sum())
        if score > best_score:
            best, best_score = labels, score
    return _renumber(best)


def silhouettes(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each vector's silhouette with cosine distance (0 for members of one-vector groups)."""
    k = int(labels.max()) + 1
    sums = group_sums(x, labels, k)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    sim_sums = dots(x, sums)  # n x k: sum of similarities to each group's members
    rows = np.arange(len(x))
    own_n = counts[labels] - 1
    self_sim = np.einsum("ij,ij->i", x, x)
    own = 1 - (sim_sums[rows, labels] - self_sim) / np.maximum(own_n, 1)
    other = 1 - sim_sums / np.maximum(counts, 1)
    other[rows, labels] = np.inf
    nearest = other.min(axis=1) if k > 1 else np.zeros(len(x))
    s = (nearest - own) / np.maximum(np.maximum(nearest, own), 1e-12)
    s[own_n == 0] = 0.0
    return s


def choose_k(x: np.ndarray, k_range: range) -> tuple[int, float]:
    """The k of ``k_range`` with the best mean silhouette (the smaller k on a tie)."""
    sample = x
    if len(x) > SELECT_SAMPLE:
        sample = x[np.linspace(0, len(x) - 1, SELECT_SAMPLE).astype(int)]
    best_k, best_s = k_range.start, -np.inf
    for k in k_range:
        runs = 3 if len(sample) <= SMALL else 1
        s = float(silhouettes(sample, kmeans(sample, k, n_init=runs)).mean())
        if s > best_s + 1e-9:
            best_k, best_s = k, s
    return best_k, best_s


def cluster(x: np.ndarray, *, min_size: int = 3, max_k: int = MAX_K) -> Clustering:
    """Group the rows of ``x`` (unit vectors); see the module's description."""
    n = len(x)
    nonzero = np.linalg.norm(x, axis=1) > 0
    labels = np.full(n, -1)
    if nonzero.sum() < 2 * min_size:
        return Clustering(labels, 0, 0.0)
    xs = x[nonzero].astype(np.float32)
    upper = max(2, min(max_k, len(xs) // min_size))
    k, score = choose_k(xs, range(2, upper + 1))
    found = kmeans(xs, k, n_init=5 if len(xs) <= SMALL else 2)
    s = silhouettes(xs, found)
    found[s < 0] = -1
    counts = np.bincount(found[found >= 0], minlength=k)
    found[(found >= 0) & (counts[np.maximum(found, 0)] < min_size)] = -1
    labels[nonzero] = _renumber(found)
    return Clustering(labels, k, score)


def dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b.T`` without BLAS threads: on a small shared machine, OpenBLAS's threads spin
    against other work and make these thin products several times slower."""
    return np.einsum("ij,kj->ik", a, b)


def group_sums(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The sum of each group's vectors (k x d; zero for an empty group)."""
    sums = np.zeros((k, x.shape[1]), dtype=np.float32)
    for g in np.unique(labels):
        sums[g] = x[labels == g].sum(axis=0)
    return sums


def _seed(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++: each next centre drawn in proportion to its distance from the chosen ones."""
    centres = [x[int(rng.integers(len(x)))]]
    closest = 1 - dots(x, centres[0][None])[:, 0]
    for _ in range(1, k):
        weights = np.maximum(closest, 0)
        total = weights.sum()
        if total > 0:
            pick = int(rng.choice(len(x), p=weights / total))
        else:
            pick = int(rng.integers(len(x)))
        centres.append(x[pick])
        closest = np.minimum(closest, 1 - dots(x, x[pick][None])[:, 0])
    return np.array(centres)


def _centres(x: np.ndarray, labels: np.ndarray, k: int, sims: np.ndarray) -> np.ndarray:
    sums = group_sums(x, labels, k)
    counts = np.bincount(labels, minlength=k)
    taken = set()
    for empty in np.flatnonzero(counts == 0):  # re-seed on the worst-fitting vector
        order = np.argsort(sims[np.arange(len(x)), labels], kind="stable")
        pick = next(int(i) for i in order if int(i) not in taken)
        taken.add(pick)
        sums[empty] = x[pick]
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(x.dtype)


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Groups numbered by size, largest first (ties by first member), -1 kept."""
    out = np.full(len(labels), -1)
    kept = labels[labels >= 0]
    if not len(kept):
        return out
    ids, first, counts = np.unique(kept, return_index=True, return_counts=True)
    order = sorted(range(len(ids)), key=lambda i: (-counts[i], first[i]))
    mapping = {int(ids[i]): rank for rank, i in enumerate(order)}
    for i, label in enumerate(labels):
        if label >= 0:
            out[i] = mapping[int(label)]
    return out
