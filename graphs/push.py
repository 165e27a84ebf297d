"""Local forward push on a walk graph (with edits and an as-of slice applied on the fly).

Forward push (in the manner of Andersen, Chung and Lang, 2006) keeps, for each
source, an estimate ``p`` and a residual ``r`` with the invariant

    L(s) = p + L(r),   L(s) = (1 - a) * sum_k a**k (P.T)**k s,

where ``a`` is the damping (the probability of following an edge) and ``P`` the
row-stochastic transition matrix. Pushing node ``u`` moves ``(1 - a) r[u]`` into
``p[u]`` and spreads ``a r[u]`` over its neighbours in proportion to edge weight.
Only nodes whose residual exceeds ``eps`` times their weighted degree are pushed,
so the work depends on ``1 / eps`` and on the sources' neighbourhood, not on the
graph. A node without edges keeps ``(1 - a)`` of what reaches it and loses the
rest (the caller renormalises, which is what power iteration's dangling rule does).

The graph pushed on is a :class:`graphs.walk.Walk` (re-exported here).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .walk import Walk, WalkSlice, unique_ints

__all__ = ["Walk", "WalkSlice", "PushState", "forward_push", "unique_ints"]

logger = logging.getLogger(__name__)


@dataclass
class PushState:
    """Estimates and residuals of a batch of pushes over the nodes they touched.

    Attributes
    ----------
    nodes : ndarray of int
        Touched nodes (columns of ``estimate`` and ``residual``).
    estimate, residual : ndarray
        ``(sources, len(nodes))`` arrays.
    pushes : int
        Number of (source, node) pushes done.
    edges : int
        Number of edge visits.
    """

    nodes: np.ndarray
    estimate: np.ndarray
    residual: np.ndarray
    pushes: int = 0
    edges: int = 0


def forward_push(walk: Walk, sources: list[tuple[np.ndarray, np.ndarray]], damping: float,
                 eps: float | np.ndarray, max_pushes: int = 50_000_000) -> PushState:
    """Forward push from each source until every residual is below ``eps`` x degree.

    Parameters
    ----------
    walk : Walk
        The graph.
    sources : list of (nodes, weights)
        One reset vector per source (need not sum to one).
    damping : float
        Probability of following an edge.
    eps : float or ndarray
        Residual threshold per unit of weighted degree (one per source, or shared).
    max_pushes : int
        Safety bound on the total number of pushes.

    Returns
    -------
    PushState
        With ``L(s_i) = estimate[i] + L(residual[i])`` and every
        ``residual[i, j] <= eps_i * degree[nodes[j]]`` (nodes without edges are
        always pushed, so they hold no residual).

    Examples
    --------
    >>> a = sp.csr_matrix(np.array([[0, 1.0], [1.0, 0]]))
    >>> state = forward_push(Walk(a), [(np.array([0]), np.array([1.0]))], 0.5, 1e-12)
    >>> np.round(state.estimate[0] + 0.5 * state.residual[0], 6).tolist()
    [0.666667, 0.333333]
    """
    count = len(sources)
    eps = np.broadcast_to(np.asarray(eps, dtype=np.float64), (count,)).copy()
    local = walk.scratch()
    first = unique_ints(np.concatenate([np.asarray(n, dtype=np.int64) for n, _ in sources])
                      if count else np.zeros(0, dtype=np.int64))
    capacity = max(4096, 16 * len(first))
    nodes = np.zeros(capacity, dtype=np.int64)
    nodes[:len(first)] = first
    used = len(first)
    estimate = np.zeros((count, capacity))
    residual = np.zeros((count, capacity))
    degree_local = np.zeros(capacity)
    pushes = edges = 0
    state = [nodes, used]  # the rows set in ``local``, restored to -1 whatever happens
    try:
        local[first] = np.arange(len(first))
        for i, (src, weights) in enumerate(sources):
            np.add.at(residual[i], local[np.asarray(src, dtype=np.int64)], np.asarray(weights, float))
        degree_local[:used] = walk.degree_of(first)
        pushes, edges, used, nodes, estimate, residual = _run(
            walk, local, state, capacity, estimate, residual, degree_local, np.arange(used),
            eps, damping, max_pushes)
    finally:
        local[state[0][:state[1]]] = -1
    logger.debug("forward push: %d sources, %d pushes, %d edge visits, %d nodes",
                 count, pushes, edges, used)
    return PushState(nodes[:used].copy(), estimate[:, :used], residual[:, :used], pushes, edges)


def _run(walk: Walk, local: np.ndarray, state: list, capacity: int,
         estimate: np.ndarray, residual: np.ndarray, degree_local: np.ndarray,
         candidates: np.ndarray, eps: np.ndarray, damping: float, max_pushes: int
         ) -> tuple[int, int, int, np.ndarray, np.ndarray, np.ndarray]:
    """The push rounds of :func:`forward_push`; ``state`` is ``[nodes, used]``, kept current."""
    nodes, used = state
    single = residual.shape[0] == 1
    dirty = np.zeros(capacity, dtype=bool)
    pushes = edges = 0
    while len(candidates):
        threshold = degree_local[candidates]
        if single:
            values_all = residual[0, candidates]
            hot = values_all > eps[0] * threshold
            cols = candidates[hot]
            if len(cols) == 0:
                break
            src_index = np.zeros(len(cols), dtype=np.int64)
            values = values_all[hot]
            unique_cols, pair_slot = cols, np.arange(len(cols))
        else:
            block = residual[:, candidates]
            src_index, column = np.nonzero(block > eps[:, None] * threshold[None, :])
            if len(src_index) == 0:
                break
            cols = candidates[column]
            values = block[src_index, column]
            dirty[cols] = True
            unique_cols = np.flatnonzero(dirty[:used])
            dirty[unique_cols] = False
            pair_slot = np.searchsorted(unique_cols, cols)
        residual[src_index, cols] = 0.0
        estimate[src_index, cols] += (1.0 - damping) * values
        pushes += len(values)
        if pushes > max_pushes:
            raise RuntimeError("forward push exceeded its push budget")
        owner, neighbours, weights = walk.rows(nodes[unique_cols])
        # Rows of unique_cols are contiguous in (owner, neighbours, weights).
        row_len = np.bincount(owner, minlength=len(unique_cols))
        lengths = row_len[pair_slot]
        total = int(lengths.sum())
        if total == 0:
            break
        edges += total
        degree_of = degree_local[cols]
        share = damping * values / np.where(degree_of > 0, degree_of, 1.0)
        if single:
            index = slice(None)
        else:
            row_start = np.cumsum(row_len) - row_len
            offsets = np.cumsum(lengths) - lengths
            index = np.arange(total) - np.repeat(offsets - row_start[pair_slot], lengths)
        amounts = np.repeat(share, lengths) * weights[index]
        targets = neighbours[index]
        target_local = local[targets]
        missing = target_local < 0
        if missing.any():
            # The distinct new nodes, without sorting every arrival: each writes its slot into
            # ``local`` and one per node finds its own there (numpy keeps one of the writes to
            # a repeated index); ``local`` is restored at once, and the few distinct ones are
            # sorted so that rows (and sums) come in the same order on every run.
            arriving = targets[missing]
            slots = np.arange(len(arriving))
            local[arriving] = slots
            fresh = np.sort(arriving[local[arriving] == slots])
            local[arriving] = -1
            if used + len(fresh) > capacity:
                capacity = max(4 * capacity, used + len(fresh))
                nodes = np.resize(nodes, capacity)
                degree_local = np.concatenate([degree_local[:used], np.zeros(capacity - used)])
                estimate = _grow(estimate, used, capacity)
                residual = _grow(residual, used, capacity)
                dirty = np.zeros(capacity, dtype=bool)
            nodes[used:used + len(fresh)] = fresh
            state[0], state[1] = nodes, used + len(fresh)  # before ``local`` points at them
            local[fresh] = np.arange(used, used + len(fresh))
            degree_local[used:used + len(fresh)] = walk.degree_of(fresh)
            used += len(fresh)
            target_local = local[targets]
        if single:
            np.add.at(residual[0], target_local, amounts)
        else:
            np.add.at(residual.reshape(-1), np.repeat(src_index, lengths) * capacity + target_local,
                      amounts)
        dirty[target_local] = True
        candidates = np.flatnonzero(dirty[:used])
        dirty[candidates] = False
    return pushes, edges, used, nodes, estimate, residual


def _grow(array: np.ndarray, used: int, capacity: int) -> np.ndarray:
    grown = np.zeros((array.shape[0], capacity))
    grown[:, :used] = array[:, :used]
    return grown
