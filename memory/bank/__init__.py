"""The hierarchical parametric memory bank (after Pouransari et al., 2025).

A routing tree (:mod:`memory.bank.tree`) sends each fact key to a leaf; an anchor
FFN and one FFN block per tree node (:mod:`memory.bank.blocks`) learn to map keys
to answer entities; :mod:`memory.bank.state` keeps them in step with the store's
facts and :mod:`memory.bank.recall` answers closed-book. Importing this package
does not import torch: only training and recall do.
"""

from __future__ import annotations

from typing import Any

from .bank import MemoryBank
from .recall import Recall
from .state import FitReport
from .tree import ANCHOR, RoutingTree, TreeNode, fit_tree, key_text

__all__ = ["MemoryBank", "Recall", "FitReport", "key_text", "ANCHOR", "FFNBlock", "TrainingSet", "train_block",
           "RoutingTree", "TreeNode", "fit_tree"]

_TORCH = {"FFNBlock", "TrainingSet", "train_block"}


def __getattr__(name: str) -> Any:
    if name in _TORCH:
        from . import blocks

        return getattr(blocks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
