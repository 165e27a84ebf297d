"""Which block holds which fact (pure functions: no store, no torch)."""

from __future__ import annotations

import numpy as np

from memory import BankConfig
from memory.bank import ANCHOR, RoutingTree, TreeNode
from memory.bank.members import DEFER, Member, assign, examples_by_node, training_digest, vocabulary


def _tree() -> RoutingTree:
    c = np.zeros(4, dtype=np.float32)
    ids = ["0", "1", "0.0", "0.1", "1.0", "1.1"]
    return RoutingTree([TreeNode(i, i.rpartition(".")[0], i.count(".") + 1, c) for i in ids])


def _fact(key: int, subject: int, relation: str, obj: int, leaf: str) -> Member:
    return Member(key, subject, relation, obj, f"o{obj}", f"s{subject} {relation}", leaf, None)


def test_shared_pairs_live_at_the_lowest_common_ancestor_and_the_tail_in_leaves() -> None:
    config = BankConfig(shared_min_subjects=3)
    facts = [_fact(1, 1, "citizen of", 9, "0.0"), _fact(2, 2, "citizen of", 9, "0.0"),
             _fact(3, 3, "citizen of", 9, "0.1"),              # shared within subtree "0"
             _fact(4, 4, "lives in", 8, "0.0"), _fact(5, 5, "lives in", 8, "1.0"),
             _fact(6, 6, "lives in", 8, "1.1"),                # shared across subtrees: the anchor
             _fact(7, 1, "born in", 7, "0.0"), _fact(8, 2, "born in", 7, "0.0"),
             _fact(9, 7, "wrote", 6, "1.1")]                   # two subjects: long tail
    homes = assign(_tree(), facts, config)
    assert [homes[k] for k in (1, 2, 3)] == ["0", "0", "0"]
    assert [homes[k] for k in (4, 5, 6)] == [ANCHOR] * 3
    assert [homes[k] for k in (7, 8, 9)] == ["0.0", "0.0", "1.1"]
    # all three subjects in one leaf: shared all the same, so it lives above the leaf
    same_leaf = [_fact(10 + i, 20 + i, "plays", 5, "1.0") for i in range(3)]
    assert set(assign(_tree(), same_leaf, config).values()) == {"1"}


def test_blocks_learn_their_own_facts_and_defer_the_ones_living_above() -> None:
    config = BankConfig(shared_min_subjects=2)
    facts = [_fact(1, 1, "citizen of", 9, "0.0"), _fact(2, 2, "citizen of", 9, "0.1"),
             _fact(3, 1, "born in", 7, "0.0")]
    examples = examples_by_node(_tree(), facts, config)
    assert [(e.member.key, e.answer) for e in examples["0.0"]] == [(3, "o7"), (1, DEFER)]
    assert [(e.member.key, e.answer) for e in examples["0"]] == [(1, "o9"), (2, "o9")]
    assert "0.1" not in examples  # only deferred facts: no block, a query passes through
    assert vocabulary(examples["0.0"]) == ["o7", DEFER]
    # content, not keys: the same facts under other database keys give the same digest
    renumbered = [Member(m.key + 100, m.subject + 100, m.relation, m.obj + 100, m.obj_name, m.text, m.leaf, m.valid_from)
                  for m in facts]
    again = examples_by_node(_tree(), renumbered, config)
    assert all(training_digest(node, examples[node], config) == training_digest(node, again[node], config)
               for node in examples)
