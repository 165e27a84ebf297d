"""The hierarchical parametric memory bank (after Pouransari et al., 2025).

A routing tree (:mod:`memory.bank.tree`) sends each fact key to a leaf; an anchor
FFN and one FFN block per tree node (:mod:`memory.bank.blocks`) learn to map keys
to answer entities; :class:`MemoryBank` keeps them in step with the store's facts.
"""

from .bank import ANCHOR, MemoryBank, Recall, SyncReport, key_text
from .blocks import FFNBlock, TrainingSet, train_block
from .tree import RoutingTree, TreeNode, fit_tree

__all__ = ["MemoryBank", "Recall", "SyncReport", "key_text", "ANCHOR", "FFNBlock", "TrainingSet",
           "train_block", "RoutingTree", "TreeNode", "fit_tree"]
