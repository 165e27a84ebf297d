"""The hierarchical memory bank: routing, deterministic blocks, forgetting/rewriting by block."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memory import BankConfig, RetrievalConfig, StoreConfig
from memory.bank import ANCHOR, fit_tree
from memory.bank.blocks import block_bytes
from memory.cli import main as cli_main
from memory.errors import BankNotFittedError, InvalidQueryError
from .helpers import rows

PEOPLE = [("Ann Lee", "Oslo", "chemist"), ("Bo Berg", "Lima", "painter"), ("Cy Fox", "Quito", "pilot"),
          ("Di Hart", "Perth", "baker"), ("Ed Moss", "Turin", "singer"), ("Flo Kent", "Hanoi", "farmer"),
          ("Gus Wolf", "Dakar", "judge"), ("Hal Snow", "Riga", "nurse")]
SMALL = BankConfig(branching=2, depth=2, min_leaf=2, hidden=16, upper_hidden=8, anchor_hidden=8, epochs=60,
                   shared_min_subjects=3)


def _doc(name: str, city: str, job: str) -> dict:
    return {"id": name, "text": f"{name} was born in {city}. {name} works as a {job}."}


@pytest.fixture
def fitted(make_store):
    store = make_store("bank", StoreConfig(bank=SMALL))
    store.ingest([_doc(*p) for p in PEOPLE] + [{"id": "echo", "text": "Ann Lee was born in Oslo."}])
    store.bank.fit()
    return store


def _weights(store) -> dict[str, str]:
    return dict(rows(store, "SELECT node, weights FROM bank_blocks"))


def test_the_tree_is_fixed_and_new_keys_are_routed_into_it() -> None:
    rng = np.random.default_rng(1)
    keys = rng.normal(size=(200, 16)).astype(np.float32)
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    tree = fit_tree(keys, branching=3, depth=2, min_leaf=4, seed=0)
    assert tree == tree and fit_tree(keys, 3, 2, 4, 0).nodes.keys() == tree.nodes.keys()
    leaves = tree.route(keys)
    assert set(leaves) <= set(tree.leaves) and len(set(leaves)) > 3
    assert all(len(tree.path(leaf)) == 2 for leaf in leaves)
    # routing one more key moves no other key
    assert tree.route(np.vstack([keys, keys[:1] * -1]))[:-1] == leaves


def test_recall_answers_trained_facts_closed_book(fitted) -> None:
    answers = {}
    for name, city, _ in PEOPLE:
        recall = fitted.recall(name, "bear in")
        answers[name] = recall.answer
        if recall.answer is not None:  # "Cy Fox" is parsed as the entity "cy": no such subject
            assert recall.blocks[-1] in fitted.bank.tree.leaves and 0 < recall.confidence <= 1
    assert sum(answers[name] == city.lower() for name, city, _ in PEOPLE) >= 7
    stats = fitted.bank.stats()
    assert stats["fitted"] and stats["anchor_facts"] == 0  # no (relation, object) pair has 3 subjects
    assert stats["facts_routed"] == len(fitted.facts()) and stats["parameters"]["blocks"] > 0
    assert {f.subject for f in fitted.facts()} >= {"ann lee", "hal snow"}  # no filter: every current fact


def test_forget_retrains_exactly_the_changed_blocks_bit_for_bit(fitted) -> None:
    before = _weights(fitted)
    leaf = fitted.recall("Hal Snow", "bear in").blocks[-1]
    report = fitted.forget("Hal Snow")
    after = _weights(fitted)
    changed = {node for node in before if after.get(node) != before[node]}
    path = set(fitted.bank.tree.path(leaf))
    assert changed == {node for node in path if node in before}  # the path's blocks, nothing else
    assert report.recomputed["bank_blocks"] == len(changed)
    for node in after:  # every stored block equals one trained from scratch on what remains
        assert block_bytes(fitted.bank.load_block(node)) == block_bytes(fitted.bank.train_from_scratch(node))
    assert all("hal snow" not in text for node in after for text, _ in fitted.bank.training_facts(node))
    stored = {r[0] for r in rows(fitted, "SELECT digest FROM bank_weights")}
    assert stored == set(after.values())  # replaced weights are deleted


def test_facts_about_a_subject_live_in_one_leaf(fitted) -> None:
    leaves = {fitted.recall(name, "bear in").blocks[0] for name, _, _ in PEOPLE if name != "Cy Fox"}
    for leaf in leaves:
        subjects = {text.split(" bear in")[0].split(" work as")[0] for text, _ in fitted.bank.training_facts(leaf)}
        assert all(fitted.recall(s, "work as").blocks[0] == leaf for s in subjects)
    fitted.forget("echo")  # a second source of a fact changes no block
    assert fitted.bank.stale() == []


def test_update_retrains_only_its_path_and_recall_reads_time(fitted) -> None:
    before = _weights(fitted)
    fitted.update("Cy Fox", "work as", "astronaut", at="2020-01-01")
    after = _weights(fitted)
    changed = {node for node in before if after.get(node) != before[node]}
    assert changed and len(changed) <= SMALL.depth
    for node in changed:
        assert block_bytes(fitted.bank.load_block(node)) == block_bytes(fitted.bank.train_from_scratch(node))


def test_blocking_switches_knowledge_off_without_retraining(fitted) -> None:
    weights = _weights(fitted)
    recall = fitted.recall("Ed Moss", "bear in")
    for node in recall.blocks:
        if node != ANCHOR:
            fitted.bank.block(node)
    blocked = fitted.recall("Ed Moss", "bear in")
    assert blocked.blocks == tuple(n for n in recall.blocks if n == ANCHOR)
    assert _weights(fitted) == weights
    for node in recall.blocks:
        if node != ANCHOR:
            fitted.bank.unblock(node)
    assert fitted.recall("Ed Moss", "bear in") == recall
    with pytest.raises(InvalidQueryError, match="no bank node"):
        fitted.bank.block("9.9.9")


def test_bank_persists_and_leaves_no_text_of_a_forgotten_document(fitted, make_store) -> None:
    canary = "Zorblax Quintavius"
    fitted.ingest({"id": "canary", "text": f"{canary} was born in Oslo. {canary} works as a pilot."})
    assert fitted.bank.training_facts(fitted.recall(canary, "bear in").blocks[-1])
    fitted.forget("canary")
    answer = fitted.recall("Ann Lee", "bear in")
    path = fitted.path
    fitted.close()
    reopened = make_store("bank")
    assert reopened.recall("Ann Lee", "bear in") == answer
    for file in path.rglob("*"):
        if file.is_file():
            assert canary.lower().encode() not in file.read_bytes().lower(), file


def test_unfitted_bank_and_bad_input_are_clear_errors(make_store) -> None:
    store = make_store("empty")
    with pytest.raises(BankNotFittedError, match="fit"):
        store.recall("Ann Lee", "bear in")
    with pytest.raises(BankNotFittedError, match="no facts"):
        store.bank.fit()
    assert store.bank.stats() == {"fitted": False}
    store.ingest(_doc(*PEOPLE[0]))
    store.bank.fit(SMALL)
    with pytest.raises(InvalidQueryError):
        store.recall("", "bear in")


def test_bank_seeds_join_the_walk_when_configured(fitted) -> None:
    config = RetrievalConfig(bank_seeds=2)
    fitted.retrieve("Where was Gus Wolf born?", mode="hipporag1", config=config)
    assert any("memory bank predicts" in seed.reason for seed in fitted.last_query.seeds)
    fitted.retrieve("Where was Gus Wolf born?", mode="hipporag1")
    assert not any("memory bank" in seed.reason for seed in fitted.last_query.seeds)


def test_cli_bank_fit_recall_stats_block(make_store, capsys) -> None:
    store = make_store("cli")
    store.ingest([_doc(*p) for p in PEOPLE])
    path = str(store.path)
    store.close()
    assert cli_main(["bank", "fit", "--store", path, "--branching", "2", "--depth", "1",
                     "--min-leaf", "2", "--epochs", "60", "--json"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["leaves"] == 2 and fit["blocks_trained"] == 2
    assert cli_main(["bank", "recall", "--store", path, "--subject", "Bo Berg", "--relation",
                     "bear in", "--json"]) == 0
    recall = json.loads(capsys.readouterr().out)
    assert set(recall) == {"answer", "confidence", "blocks", "alternatives", "reason"}
    assert cli_main(["bank", "block", "--store", path, "0"]) == 0
    capsys.readouterr()
    assert cli_main(["bank", "stats", "--store", path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["blocked"] == ["0"]
    assert cli_main(["bank", "unblock", "--store", path, "7"]) == 2
    assert "no bank node" in capsys.readouterr().err


def test_check_and_recall_find_tampered_weights(fitted) -> None:
    import sqlite3

    from memory.check import check_store
    from memory.errors import CorruptStoreError

    assert check_store(fitted) == []
    leaf = fitted.recall("Ann Lee", "bear in").blocks[-1]
    weights = _weights(fitted)[leaf]
    with sqlite3.connect(fitted.path / "memory.sqlite") as conn:
        conn.execute("UPDATE bank_weights SET data = ? WHERE digest = ?", (b"not weights", weights))
    assert any("do not match their hash" in p for p in check_store(fitted))
    from memory.bank import recall as recall_module

    recall_module._BLOCKS.clear()  # as in a new process
    with pytest.raises(CorruptStoreError, match="do not match their hash"):
        fitted.recall("Ann Lee", "bear in")


def test_a_forget_masks_the_changed_blocks_until_they_are_retrained(fitted, monkeypatch) -> None:
    from memory.bank import state

    # as if the process died after the forget's commit, before the bank retrained
    monkeypatch.setattr(state, "retrain_stale", lambda core, progress=False: 0)
    path = set(fitted.recall("Gus Wolf", "bear in").blocks)
    fitted.forget("Gus Wolf")
    monkeypatch.undo()
    stale = set(fitted.bank.stale())
    assert stale and stale <= path | {ANCHOR}
    answer = fitted.recall("Gus Wolf", "bear in")
    assert answer.answer is None and "no entity named" in answer.reason  # gone with its only document
    other = fitted.recall("Ann Lee", "bear in")
    assert not set(other.blocks) & stale  # a read never trains and never uses a stale block
    assert any("awaits retraining" in p for p in __import__("memory.check", fromlist=["x"]).check_store(fitted))
    assert fitted.bank.sync() == len(stale - {ANCHOR}) or fitted.bank.stale() == []
    assert fitted.bank.stale() == []
    for node in _weights(fitted):
        assert all("gus wolf" not in text for text, _ in fitted.bank.training_facts(node))
        assert block_bytes(fitted.bank.load_block(node)) == block_bytes(fitted.bank.train_from_scratch(node))


def test_a_fit_killed_before_its_commit_leaves_the_bank_as_it_was(fitted, monkeypatch) -> None:
    from memory.bank import state

    before = _weights(fitted)
    answer = fitted.recall("Ann Lee", "bear in")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while training")

    monkeypatch.setattr(state, "_train", crash)
    with pytest.raises(KeyboardInterrupt):
        fitted.bank.fit(BankConfig(branching=3, depth=1, min_leaf=2, hidden=16, anchor_hidden=16, epochs=10))
    monkeypatch.undo()
    assert _weights(fitted) == before and fitted.recall("Ann Lee", "bear in") == answer
    from memory.check import check_store

    assert check_store(fitted) == []


def test_recall_abstains_on_unknown_subjects_and_never_answers_the_subject(fitted) -> None:
    unknown = fitted.recall("Zed Quorn", "bear in")
    assert unknown.answer is None and "no entity named" in unknown.reason
    for name, _, _ in PEOPLE:
        assert fitted.recall(name, "bear in").answer != name.lower()


def test_update_answers_the_new_object_and_the_old_one_as_of_before(fitted) -> None:
    assert fitted.recall("Ann Lee", "work as").answer == "chemist"
    before = _weights(fitted)
    fitted.update("Ann Lee", "work as", "astronaut", at="2020-01-01")
    after = _weights(fitted)
    changed = {node for node in before if after.get(node) != before[node]}
    leaf = fitted.recall("Ann Lee", "work as").blocks[0]
    assert changed == {leaf}  # the block holding (ann lee, work as), nothing else
    assert fitted.recall("Ann Lee", "work as").answer == "astronaut"
    assert fitted.recall("Ann Lee", "work as", as_of="2019-06-01").answer == "chemist"
    assert fitted.recall("Ann Lee", "work as", as_of="2021-06-01").answer == "astronaut"
    for node in after:
        assert block_bytes(fitted.bank.load_block(node)) == block_bytes(fitted.bank.train_from_scratch(node))


def test_a_forgotten_subject_is_unknown_not_guessed(fitted) -> None:
    assert fitted.recall("Bo Berg", "bear in").answer == "lima"
    fitted.forget("Bo Berg")
    gone = fitted.recall("Bo Berg", "bear in")
    assert gone.answer is None and gone.reason
    fitted.forget_entity("Ed Moss", cascade=True)
    entity_gone = fitted.recall("Ed Moss", "bear in")
    assert entity_gone.answer is None and "no entity named" in entity_gone.reason
    fitted.forget_fact("Flo Kent", "bear in", "Hanoi")  # the entity stays (her job), the fact goes
    fact_gone = fitted.recall("Flo Kent", "bear in")
    assert fact_gone.answer != "hanoi"
    # an entity the store holds only as an object has no facts in the bank
    only_object = fitted.recall("Oslo", "bear in")
    assert only_object.answer is None and "no facts about" in only_object.reason


def test_low_confidence_abstains_and_says_why(fitted) -> None:
    sure = fitted.recall("Ed Moss", "bear in")
    assert sure.answer is not None
    unsure = fitted.bank.recall("Ed Moss", "bear in", threshold=0.999999)
    if unsure.answer is None:
        assert "not confident" in unsure.reason and unsure.alternatives
    # a relation the subject never had: whatever the bank says, it is not the subject
    other = fitted.bank.recall("Ed Moss", "was elected mayor of", threshold=0.0)
    assert other.answer != "ed moss"


def test_a_retraining_killed_midway_leaves_before_or_after(fitted, monkeypatch) -> None:
    from memory.bank import state
    from memory.check import check_store

    real = state._train
    calls = {"n": 0}

    def dies_on_the_second_block(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed while retraining")
        return real(*args, **kwargs)

    before = _weights(fitted)
    monkeypatch.setattr(state, "_train", dies_on_the_second_block)
    with pytest.raises(KeyboardInterrupt):
        fitted.forget(ids=["Ann Lee", "Gus Wolf", "Hal Snow", "Di Hart"])
    monkeypatch.undo()
    stale = set(fitted.bank.stale())
    after = _weights(fitted)
    for node in after:  # every block is the old one (masked) or the retrained one (exact)
        if node not in stale:
            assert block_bytes(fitted.bank.load_block(node)) == block_bytes(fitted.bank.train_from_scratch(node))
        else:
            assert after[node] == before[node]
    problems = check_store(fitted)
    assert {p.split()[2] for p in problems if "awaits retraining" in p} == stale
    assert fitted.bank.sync() >= 1 and fitted.bank.stale() == [] and check_store(fitted) == []
    for node in _weights(fitted):
        assert block_bytes(fitted.bank.load_block(node)) == block_bytes(fitted.bank.train_from_scratch(node))


def test_shared_facts_live_up_the_tree_and_leaves_defer_them(make_store) -> None:
    store = make_store("shared", StoreConfig(bank=SMALL))
    people = [("Ann Lee", "Oslo"), ("Bo Berg", "Lima"), ("Di Hart", "Perth"), ("Ed Moss", "Turin"),
              ("Flo Kent", "Hanoi"), ("Gus Wolf", "Dakar")]
    store.ingest([{"id": n, "text": f"{n} was born in {c}. {n} is a citizen of Norway."} for n, c in people])
    store.bank.fit()
    homes = {}
    for node in [ANCHOR, *store.bank.tree.nodes]:
        for text, answer in store.bank.training_facts(node) if node in _weights(store) else []:
            if answer:
                homes[(text, answer)] = node
    shared = {k: v for k, v in homes.items() if k[1] in ("norway", "citizen")}  # six subjects each
    assert shared and all(node not in store.bank.tree.leaves for node in shared.values())
    assert all(node in store.bank.tree.leaves for (text, answer), node in homes.items() if (text, answer) not in shared)
    leaf = store.recall("Ann Lee", "bear in").blocks[0]
    assert ("ann lee be citizen of", "") in store.bank.training_facts(leaf)  # the leaf learns to defer it
    answer = store.recall("Ann Lee", "be citizen of")
    assert answer.answer == "norway" and answer.blocks[-1] not in store.bank.tree.leaves
    # forgetting retrains exactly the blocks that held the document's facts
    gus_leaf = store.recall("Gus Wolf", "bear in").blocks[0]
    before = _weights(store)
    store.forget("Gus Wolf")
    assert {n for n in before if _weights(store).get(n) != before[n]} == {gus_leaf, ANCHOR}
    store.ingest({"id": "tail", "text": "Zed Quorn was born in Quito."})
    tail_leaf = store.recall("Zed Quorn", "bear in").blocks[0]
    before = _weights(store)
    store.forget("tail")  # only long-tail facts: only their leaf
    assert {n for n in before if _weights(store).get(n) != before[n]} == {tail_leaf}
    for node in _weights(store):
        assert block_bytes(store.bank.load_block(node)) == block_bytes(store.bank.train_from_scratch(node))


def test_import_memory_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, memory; s = memory.MemoryStore; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
