"""Personalized PageRank by sparse power iteration.

Convention (igraph's, as HippoRAG uses it): with probability ``damping`` the
walk follows an edge chosen in proportion to its weight; otherwise it restarts
at a node drawn from the reset distribution. A node without edges sends its
mass back to the reset distribution (networkx's and igraph's behaviour).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["personalized_pagerank", "transition_matrix"]


def transition_matrix(adjacency: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Transposed row-stochastic matrix and the dangling-node mask.

    Returns
    -------
    transposed : csr_matrix
        ``P.T`` where ``P[i, j] = w_ij / sum_j w_ij``.
    dangling : ndarray of bool
        Nodes with no outgoing weight.
    """
    out_weight = np.asarray(adjacency.sum(axis=1)).ravel()
    dangling = out_weight == 0
    inverse = np.divide(1.0, out_weight, out=np.zeros_like(out_weight), where=~dangling)
    transition = sp.diags(inverse) @ adjacency
    return sp.csr_matrix(transition.T), dangling


def personalized_pagerank(
    adjacency: sp.csr_matrix,
    reset: np.ndarray,
    damping: float = 0.5,
    tol: float = 1e-10,
    max_iter: int = 200,
    transition: tuple[sp.csr_matrix, np.ndarray] | None = None,
) -> np.ndarray:
    """Stationary distribution of the walk with restarts at ``reset``.

    Parameters
    ----------
    adjacency : csr_matrix
        Weighted adjacency (row ``i`` holds the out-edges of node ``i``).
    reset : ndarray
        Non-negative restart weights; normalised to sum to one.
    damping : float
        Probability of following an edge (igraph's ``damping``).
    tol : float
        Stop when the L1 change of one step falls below this.
    max_iter : int
        Upper bound on iterations.
    transition : tuple, optional
        A precomputed :func:`transition_matrix` of ``adjacency``.

    Returns
    -------
    ndarray
        Scores summing to one.

    Examples
    --------
    >>> a = sp.csr_matrix(np.array([[0, 1.0], [1.0, 0]]))
    >>> personalized_pagerank(a, np.array([1.0, 0.0]), damping=0.5).round(4).tolist()
    [0.6667, 0.3333]
    """
    n = adjacency.shape[0]
    reset = np.asarray(reset, dtype=np.float64)
    if reset.shape != (n,):
        raise ValueError(f"reset has shape {reset.shape}, expected ({n},)")
    if (reset < 0).any() or not np.isfinite(reset).all():
        raise ValueError("reset weights must be finite and non-negative")
    total = reset.sum()
    if total == 0:
        raise ValueError("reset vector is all zero")
    reset = reset / total
    transposed, dangling = transition if transition is not None else transition_matrix(adjacency)
    scores = reset.copy()
    for _ in range(max_iter):
        dangling_mass = scores[dangling].sum()
        updated = damping * (transposed @ scores) + (damping * dangling_mass + 1.0 - damping) * reset
        change = np.abs(updated - scores).sum()
        scores = updated
        if change < tol:
            break
    return scores / scores.sum()
