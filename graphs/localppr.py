"""Personalized PageRank for a top-k passage ranking, at a cost set by the seeds' neighbourhood.

The reset vector of a HippoRAG query has two parts: a handful of entity seeds and
a *prior* on every passage (its dense score times a small weight). PPR is linear
in the reset vector; with ``L`` the walk operator of :mod:`graphs.push` (scores
before normalisation, ``a`` the damping)::

    x = L(seeds) + L(prior)

1. ``L(seeds)``: forward push from the seeds (threshold ``eps_seed``).
2. ``L(prior)`` is never pushed from every passage. On an undirected graph the
   degree vector ``d`` is stationary (``P.T d = d``), so ``L(beta d) = beta d``
   exactly. With ``beta = sum(prior) / sum(d)`` the prior splits into ``beta d``
   (exact, free) and a deviation ``D = prior - beta d`` whose mass cancels out over
   any large neighbourhood. ``L(D)[v] = (1 - a) D[v] + (1 - a) a (P.T D)[v] + ...``:
   the first ``depth`` steps are read from ``v``'s neighbourhood, the rest is at
   most ``a**(depth + 1) * d[v] * max|D / d|``. The seeds' leftover residual is
   carried the same way.
3. Step 2 at depth 0 estimates every passage in one vector operation over the
   passages (the prior is an all-passages vector, so reading it is the least any
   method can do). The best ``candidates`` are *refined*: by symmetry of the graph
   (``pi_u(t) d_u = pi_t(u) d_t``), a passage's score is
   ``d_t * sum_u pi_t(u) reset[u] / d_u``; a forward push from ``t`` gives ``pi_t``
   up to a residual whose nodes are valued with step 2 (depth ``depth``). A refined
   score's error is at most
   ``d_t * sum_v residual_t[v] * (a**(depth+1) * (max(seed residual / d) + max|D / d|))``
   (its *bound*; larger where a hub's row was sampled). While a passage left out
   could still reach the k-th refined score, more candidates are refined; adjacent
   scores of the top k within ``tie_gap`` are refined again, ten times tighter and
   one step deeper.

The bound is rigorous (the property tests check it against power iteration) and
decides the order wherever it separates two scores (:attr:`LocalPPR.certified`);
it is loose (the real error is one to two orders smaller), so the defaults were
set by measured agreement with power iteration (``python -m eval.ppr``), which
stays the reference (:func:`graphs.ppr.personalized_pagerank`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .push import forward_push
from .walk import Walk, unique_ints

__all__ = ["LocalPPR", "PushSettings", "SparseValues", "local_ppr", "prior_diffusion"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushSettings:
    """Accuracy settings of :func:`local_ppr` (see there); the defaults were measured to give
    the exact top 5 on 230 of 231 benchmark queries (``python -m eval.ppr``).

    >>> PushSettings(depth=2).as_kwargs()["depth"]
    2
    """

    eps_seed: float = 1e-5
    eps_candidate: float = 3e-5
    candidates: int = 6
    depth: int = 1
    max_rounds: int = 4
    hub_cap: int | None = 128
    tie_gap: float = 0.003

    def as_kwargs(self) -> dict:
        """The settings as keyword arguments of :func:`local_ppr`."""
        return {"eps_seed": self.eps_seed, "eps_candidate": self.eps_candidate,
                "candidates": self.candidates, "depth": self.depth,
                "max_rounds": self.max_rounds, "hub_cap": self.hub_cap, "tie_gap": self.tie_gap}


class SparseValues:
    """Values at some nodes, zero elsewhere, looked up without a graph-sized array.

    >>> SparseValues(np.array([5, 2]), np.array([1.0, 3.0]))(np.array([2, 4, 5])).tolist()
    [3.0, 0.0, 1.0]
    """

    def __init__(self, nodes: np.ndarray, values: np.ndarray) -> None:
        nodes = np.asarray(nodes, dtype=np.int64)
        order = np.argsort(nodes, kind="stable")
        self.nodes, self.values = nodes[order], np.asarray(values, dtype=np.float64)[order]
        if len(self.nodes) > 1 and (np.diff(self.nodes) == 0).any():
            keys = unique_ints(self.nodes)
            summed = np.zeros(len(keys))
            np.add.at(summed, np.searchsorted(keys, self.nodes), self.values)
            self.nodes, self.values = keys, summed

    def __call__(self, nodes: np.ndarray) -> np.ndarray:
        nodes = np.asarray(nodes, dtype=np.int64)
        if len(self.nodes) == 0:
            return np.zeros(len(nodes))
        at = np.minimum(np.searchsorted(self.nodes, nodes), len(self.nodes) - 1)
        return np.where(self.nodes[at] == nodes, self.values[at], 0.0)


class _ScratchValues:
    """Values at some nodes held in a graph-sized scratch row: O(1) lookups; ``release``
    zeroes what was set."""

    def __init__(self, row: np.ndarray, nodes: np.ndarray, values: np.ndarray) -> None:
        self.row, self.nodes = row, np.asarray(nodes, dtype=np.int64)
        np.add.at(row, self.nodes, values)

    def __call__(self, nodes: np.ndarray) -> np.ndarray:
        return self.row[nodes]

    def release(self) -> None:
        self.row[self.nodes] = 0.0


class _PassageValues:
    """One value per passage (``walk.passages`` order), zero on other rows."""

    def __init__(self, walk: Walk, values: np.ndarray) -> None:
        self.index = walk.passage_index
        self.values = np.append(np.asarray(values, dtype=np.float64), 0.0)  # [-1] -> 0

    def __call__(self, nodes: np.ndarray) -> np.ndarray:
        return self.values[self.index[nodes]]


@dataclass
class LocalPPR:
    """Result of :func:`local_ppr`: scores of passages, and of any node on demand.

    Attributes
    ----------
    passages : ndarray of int
        The ranked rows (sorted).
    passage_scores : ndarray
        Score of each passage (normalised as power iteration's): refined for the
        candidates, the estimate elsewhere.
    candidates : ndarray of int
        Refined passage rows, best first.
    bounds : ndarray
        Error bound of each candidate's score (same units as the scores).
    estimate_bound : float
        Error bound of an unrefined score, per unit of its node's weighted degree.
    certified : bool
        The order of the top ``k`` and their lead over every other passage are
        guaranteed by the bounds.
    stats : dict
        Work done: pushes and edge visits per stage, rounds of refinement.
    """

    passages: np.ndarray
    passage_scores: np.ndarray
    candidates: np.ndarray
    bounds: np.ndarray
    estimate_bound: float
    certified: bool
    stats: dict = field(default_factory=dict)
    _estimate: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    size: int = 0

    def scores_of(self, nodes: np.ndarray) -> np.ndarray:
        """Scores of any nodes: a passage's as ranked, another node's estimate."""
        nodes = np.asarray(nodes, dtype=np.int64)
        out = self._estimate(nodes) if self._estimate is not None else np.zeros(len(nodes))
        if len(self.passages):
            at = np.minimum(np.searchsorted(self.passages, nodes), len(self.passages) - 1)
            hit = self.passages[at] == nodes
            out = np.where(hit, self.passage_scores[at], out)
        return out

    def scores(self) -> np.ndarray:
        """Scores of every node as one array (costs the graph's size; for checks and traces)."""
        return self.scores_of(np.arange(self.size))

    def top(self, k: int) -> np.ndarray:
        """The ``k`` best passage rows (ties by row), best first; only positive scores."""
        scores = self.passage_scores
        k = min(k, len(scores))
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        part = _largest(scores, k)  # ties at the cut by smallest row (``passages`` is sorted)
        ranked = part[np.lexsort((self.passages[part], -scores[part]))]
        return self.passages[ranked[scores[ranked] > 0]]


def _largest(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``values``, ties at the cut taken by the smallest index,
    in no particular order (partitioned from the top end, which numpy does about twice as
    fast as partitioning the negated values).

    >>> sorted(_largest(np.array([0.3, 0.9, 0.1, 0.5]), 2).tolist())
    [1, 3]
    >>> _largest(np.array([1.0, 2.0, 1.0, 1.0]), 2).tolist()
    [1, 0]
    """
    n = len(values)
    if not 0 < k < n:
        return np.arange(min(max(k, 0), n))
    cut = values[np.argpartition(values, n - k)[n - k:]].min()
    above = np.flatnonzero(values > cut)
    return np.concatenate([above, np.flatnonzero(values == cut)[:k - len(above)]])


def prior_diffusion(walk: Walk, nodes: np.ndarray, density: Callable[[np.ndarray], np.ndarray],
                    beta: float, damping: float, depth: int, hub_cap: int | None = 512
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``sum_{j=1..depth} (1 - a) a**j ((P.T)**j D)[nodes]`` for ``D = (density - beta) * d``.

    ``density`` gives the prior per unit of degree of any nodes (zero without prior).
    Reads the ``depth``-neighbourhood of ``nodes`` only; rows longer than ``hub_cap``
    are estimated from ``hub_cap`` evenly spaced entries. Returns the values and a
    mask of the nodes whose value used such an estimate.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> a = sp.csr_matrix(np.array([[0, 1.0], [1.0, 0]]))
    >>> rho = SparseValues(np.array([0]), np.array([1.0]))
    >>> values, estimated = prior_diffusion(Walk(a), np.array([0]), rho, 0.5, 0.5, 1)
    >>> values.round(4).tolist(), estimated.tolist()
    ([-0.125], [False])
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    if depth <= 0 or len(nodes) == 0:
        return np.zeros(len(nodes)), np.zeros(len(nodes), dtype=bool)
    if depth == 1:  # one step reads only the nodes' own rows (duplicates are fine)
        owner, neighbours, weights = walk.rows(nodes, hub_cap)
        values = np.bincount(owner, weights=weights * density(neighbours), minlength=len(nodes))
        values = (1.0 - damping) * damping * (values - beta * walk.degree_of(nodes))
        if hub_cap is None:
            return values, np.zeros(len(nodes), dtype=bool)
        return values, walk.row_lengths(nodes) > hub_cap
    levels = [unique_ints(nodes)]
    for _ in range(depth - 1):
        _, neighbours, _ = walk.rows(levels[-1], hub_cap)
        levels.append(unique_ints(neighbours))
    ball = unique_ints(np.concatenate(levels))
    # y_1 = P.T D on the ball: sum_w W[u, w] (density[w] - beta) = W density - beta d.
    owner, neighbours, weights = walk.rows(ball, hub_cap)
    values = np.bincount(owner, weights=weights * density(neighbours),
                         minlength=len(ball)).astype(np.float64)
    values -= beta * walk.degree_of(ball)
    taint = (walk.row_lengths(ball) > hub_cap) if hub_cap is not None else np.zeros(len(ball), bool)
    current = SparseValues(ball, values)
    tainted = SparseValues(ball, taint.astype(np.float64))
    total = (1.0 - damping) * damping * current(nodes)
    for j in range(2, depth + 1):
        needed = unique_ints(np.concatenate(levels[: depth - j + 1]))
        owner, neighbours, weights = walk.rows(needed, hub_cap)
        degree = walk.degree_of(neighbours)
        inverse = np.where(degree > 0, 1.0 / np.where(degree > 0, degree, 1.0), 0.0)
        values = np.bincount(owner, weights=weights * current(neighbours) * inverse,
                             minlength=len(needed)).astype(np.float64)
        spread = np.bincount(owner, weights=tainted(neighbours), minlength=len(needed)) > 0
        if hub_cap is not None:
            spread |= walk.row_lengths(needed) > hub_cap
        current = SparseValues(needed, values)
        tainted = SparseValues(needed, spread.astype(np.float64) + tainted(needed))
        total += (1.0 - damping) * damping ** j * current(nodes)
    return total, tainted(nodes) > 0


def local_ppr(walk: Walk, seed_rows: np.ndarray, seed_weights: np.ndarray,
              prior_weights: np.ndarray | None = None, damping: float = 0.5, top_k: int = 5,
              eps_seed: float = 1e-5, eps_candidate: float = 3e-5, candidates: int = 6,
              depth: int = 1, max_rounds: int = 4, hub_cap: int | None = 128,
              tie_gap: float = 0.003) -> LocalPPR:
    """PPR scores good enough to rank the top ``top_k`` passages, touching only their neighbourhood.

    Parameters
    ----------
    walk : Walk
        The graph (possibly an as-of slice); its ``passages`` are the rows ranked and
        the rows the prior covers.
    seed_rows, seed_weights : ndarray
        Sparse reset entries, pushed from (entity seeds; any node works).
    prior_weights : ndarray, optional
        The dense part of the reset vector, one weight per row of ``walk.passages``;
        never pushed from.
    damping : float
        Probability of following an edge.
    top_k : int
        Size of the ranking that must be right.
    eps_seed : float
        Push threshold from the seeds, relative to their total weight.
    eps_candidate : float
        Push threshold from each candidate (its source weight is 1).
    candidates : int
        Passages refined per round.
    depth : int
        Neighbourhood depth of the prior's deviation at the push frontier.
    max_rounds : int
        Rounds of adding candidates while an unrefined passage could still enter (at
        least enough to refine the top ``top_k``).
    hub_cap : int, optional
        Rows longer than this are estimated from a sample in the frontier's
        neighbourhood (their error is bounded separately); None reads every row.
    tie_gap : float
        Adjacent scores in the top ``top_k + 1`` closer than this share are refined
        again with a ten times tighter threshold and one more step of depth (0: off).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> a = sp.csr_matrix(np.array([[0, 1.0, 1.0], [1.0, 0, 0], [1.0, 0, 0]]))
    >>> walk = Walk(a, passages=np.array([1, 2]))
    >>> out = local_ppr(walk, np.array([0]), np.array([1.0]), np.array([0.1, 0.2]), top_k=1)
    >>> out.top(2).tolist(), out.certified
    ([2, 1], True)
    """
    passages = walk.passages
    seed_rows = np.asarray(seed_rows, dtype=np.int64)
    seed_weights = np.asarray(seed_weights, dtype=np.float64)
    prior = (np.zeros(len(passages)) if prior_weights is None
             else np.asarray(prior_weights, dtype=np.float64))
    if prior.shape != passages.shape:
        raise ValueError("prior_weights needs one weight per row of walk.passages")
    if (seed_weights < 0).any() or (prior < 0).any():
        raise ValueError("reset weights must be non-negative")
    total = float(seed_weights.sum()) + float(prior.sum())
    if not np.isfinite(total) or total <= 0:
        raise ValueError("reset vector is all zero or not finite")
    scratch = walk.float_scratch(3)
    held: list[_ScratchValues] = []
    try:
        return _local_ppr(walk, seed_rows, seed_weights, prior, damping, top_k, eps_seed,
                          eps_candidate, candidates, depth, max_rounds, hub_cap, tie_gap, scratch,
                          held)
    finally:
        for values in held:
            values.release()


def _local_ppr(walk: Walk, seed_rows: np.ndarray, seed_weights: np.ndarray, prior: np.ndarray,
               damping: float, top_k: int, eps_seed: float, eps_candidate: float,
               candidates: int, depth: int, max_rounds: int, hub_cap: int | None,
               tie_gap: float, scratch: np.ndarray, held: list) -> LocalPPR:
    """:func:`local_ppr` after its checks; ``held`` collects the scratch it must zero."""
    passages = walk.passages
    seed_mass = float(seed_weights.sum())
    total = seed_mass + float(prior.sum())
    passage_degree, safe, with_edges = walk.passage_degrees
    all_connected = bool(with_edges.all())
    connected_prior = float(prior.sum() if all_connected else prior[with_edges].sum())
    beta = connected_prior / walk.total_degree if walk.total_degree > 0 else 0.0
    passage_density = prior / safe if all_connected else np.where(with_edges, prior / safe, 0.0)
    # (an isolated passage's density is 0, whose deviation beta the max includes anyway)
    spread = float(max(np.abs(passage_density - beta).max(initial=0.0), beta))
    prior_at = _PassageValues(walk, prior)
    density = _PassageValues(walk, passage_density)
    seeds = _ScratchValues(scratch[2], seed_rows, seed_weights)
    held.append(seeds)
    stats: dict = {"seed_pushes": 0, "seed_edges": 0, "candidate_pushes": 0,
                   "candidate_edges": 0, "rounds": 0}
    # 1. The seeds, pushed.
    seed_part = SparseValues(np.zeros(0, dtype=np.int64), np.zeros(0))
    fast_part = seed_residual = seed_part
    seed_residual_density = 0.0
    if len(seed_rows) and seed_mass > 0:
        state = forward_push(walk, [(seed_rows, seed_weights)], damping, eps_seed * seed_mass)
        seed_values = state.estimate[0] + (1.0 - damping) * state.residual[0]
        seed_part = SparseValues(state.nodes, seed_values)
        degree = walk.degree_of(state.nodes)
        residual_density = np.where(degree > 0, state.residual[0] / np.where(degree > 0, degree, 1.0),
                                    0.0)
        seed_residual_density = float(residual_density.max(initial=0.0))
        fast_part = _ScratchValues(scratch[0], state.nodes, seed_values)
        seed_residual = _ScratchValues(scratch[1], state.nodes, residual_density)
        held.extend([fast_part, seed_residual])
        stats["seed_pushes"], stats["seed_edges"] = state.pushes, state.edges

    # 2. The estimate everywhere: beta d exactly, plus the deviation's own share.
    def estimate_at(nodes: np.ndarray, part: Callable[[np.ndarray], np.ndarray] = fast_part
                    ) -> np.ndarray:
        return (part(nodes) + (1.0 - damping) * prior_at(nodes)
                + damping * beta * walk.degree_of(nodes))

    def kept_estimate(nodes: np.ndarray) -> np.ndarray:  # for the result, after the scratch
        return estimate_at(nodes, seed_part) / mass

    estimate = (1.0 - damping) * prior + damping * beta * passage_degree
    if len(seed_part.nodes):
        at = walk.passage_index[seed_part.nodes]
        estimate[at[at >= 0]] += seed_part.values[at >= 0]
    estimate_bound = damping * (seed_residual_density + spread)
    # At the frontier, the seeds' residual spreads with the prior's deviation: the first
    # ``depth`` steps of both are computed, the rest is bounded.
    frontier_bound = (damping ** (depth + 1) * (seed_residual_density + spread), estimate_bound)

    def spreading(nodes: np.ndarray) -> np.ndarray:
        return density(nodes) + seed_residual(nodes)

    # 3. Refine the best passages.
    scores = estimate.copy()
    refined = np.zeros(0, dtype=np.int64)
    bounds = np.zeros(0)
    # The passages in the order refinement takes them: best estimates first.
    # Enough rounds to refine the top k at least (a deep ranking asks for more).
    max_rounds = max(max_rounds, -(-(top_k + 1) // candidates) + 1)
    reach = min(len(passages), candidates * max_rounds + 1)
    order = _largest(estimate, reach)
    order = order[np.lexsort((order, -estimate[order]))]
    taken = 0
    for _ in range(max_rounds):
        best = order[taken: taken + candidates]
        if len(best) == 0:
            break
        taken += len(best)
        stats["rounds"] += 1
        values, errors = _refine(walk, passages[best], seeds, prior_at, estimate_at, spreading, beta,
                                 damping, depth, eps_candidate, frontier_bound, hub_cap, stats)
        scores[best] = values
        refined = np.concatenate([refined, best])
        bounds = np.concatenate([bounds, errors])
        ranked = np.lexsort((refined, -scores[refined]))
        refined, bounds = refined[ranked], bounds[ranked]
        if taken >= len(order):
            break
        if len(refined) < top_k:
            continue
        # Stop when no unrefined passage could reach the k-th, allowing for the largest
        # change refinement made to an estimate so far.
        kth = scores[refined[top_k - 1]]
        margin = np.abs(scores[refined] - estimate[refined]).max()
        if estimate[order[taken]] < kth - margin:
            break
    # 4. Near ties in the top k: refine both sides again, deeper and with a tighter
    # threshold (few passages, so cheap; the order of close scores is what it fixes).
    if tie_gap > 0 and len(refined) > 1:
        head = refined[: top_k + 1]
        close = np.flatnonzero(scores[head[:-1]] - scores[head[1:]] < tie_gap * scores[head[1:]])
        contested = unique_ints(np.concatenate([head[close], head[close + 1]]))
        if len(contested):
            stats["tie_passages"] = len(contested)
            tight = (damping ** (depth + 2) * (seed_residual_density + spread), estimate_bound)
            values, errors = _refine(walk, passages[contested], seeds, prior_at, estimate_at,
                                     spreading, beta, damping, depth + 1, eps_candidate / 10,
                                     tight, hub_cap, stats)
            scores[contested] = values
            position = np.searchsorted(np.sort(refined), contested)
            by_row = np.argsort(refined)
            bounds[by_row[position]] = errors
            ranked = np.lexsort((refined, -scores[refined]))
            refined, bounds = refined[ranked], bounds[ranked]
    rest_high = estimate + estimate_bound * passage_degree
    rest_high[refined] = -np.inf
    certified = _certified(scores[refined], bounds, top_k, rest_high)
    # Reset weight on a node without edges keeps (1 - a) and loses the rest (power
    # iteration's dangling rule amounts to renormalising by what is kept).
    isolated_seeds = seed_weights[walk.degree_of(seed_rows) <= 0].sum() if len(seed_rows) else 0.0
    isolated_prior = 0.0 if all_connected else float(prior[~with_edges].sum())
    mass = total - damping * (isolated_prior + float(isolated_seeds))
    return LocalPPR(passages, scores / mass, passages[refined], bounds / mass, estimate_bound / mass,
                    certified, stats, kept_estimate, walk.size)


def _refine(walk: Walk, batch: np.ndarray, seeds: SparseValues, prior_at: Callable,
            estimate_at: Callable[[np.ndarray], np.ndarray], density: Callable, beta: float,
            damping: float, depth: int, eps: float, frontier_bound: tuple[float, float],
            hub_cap: int | None, stats: dict) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the passage rows ``batch`` from pushes out of each, and their error bounds."""
    batch_degree = walk.degree_of(batch)
    sources = [(np.array([t]), np.array([1.0])) for t in batch.tolist()]
    state = forward_push(walk, sources, damping, eps)
    stats["candidate_pushes"] += state.pushes
    stats["candidate_edges"] += state.edges
    nodes = state.nodes
    degree = walk.degree_of(nodes)
    inverse = np.where(degree > 0, 1.0 / np.where(degree > 0, degree, 1.0), 0.0)
    valued = estimate_at(nodes)
    # The deviation's next steps are worth reading only where a residual is a fair share
    # of the push threshold; elsewhere the (larger) bound of the plain estimate applies.
    holding = (state.residual * inverse[None, :] > 0.1 * eps).any(axis=0)
    # Error of a frontier node's value per unit of degree: the depth's bound, or for a
    # value estimated from sampled hub rows, the estimate's bound plus the correction.
    node_bound = np.where(holding, frontier_bound[0], frontier_bound[1])
    if holding.any():
        correction, sampled = prior_diffusion(walk, nodes[holding], density, beta, damping, depth,
                                              hub_cap)
        valued[holding] += correction
        at = np.flatnonzero(holding)[sampled]
        node_bound[at] = frontier_bound[1] + np.abs(correction[sampled]) * inverse[at]
    reset = seeds(nodes) + prior_at(nodes)
    values = batch_degree * (state.estimate @ (reset * inverse) + state.residual @ (valued * inverse))
    # Plus rounding: scores equal in exact arithmetic must not count as separated.
    errors = batch_degree * (state.residual @ node_bound) + 1e-12 * np.abs(values)
    isolated = batch_degree <= 0
    values = np.where(isolated, estimate_at(batch), values)
    return values, np.where(isolated, 0.0, errors)


def _certified(top_scores: np.ndarray, bounds: np.ndarray, top_k: int, rest_high: np.ndarray) -> bool:
    """Do the bounds separate the top ``top_k`` from each other and from the rest?"""
    if len(top_scores) < top_k and np.isfinite(rest_high).any():
        return False  # part of the top k was not refined
    k = min(top_k, len(top_scores))
    if k == 0:
        return True
    low, high = top_scores - bounds, top_scores + bounds
    if any(low[i] <= high[i + 1] for i in range(min(k, len(top_scores) - 1))):
        return False
    return bool(low[k - 1] > rest_high.max(initial=-np.inf))
