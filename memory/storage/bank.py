"""Named queries over the memory bank's tables: tree, routes, block versions, weights."""

from __future__ import annotations

from typing import Iterable, Sequence

from .engine import Engine

__all__ = ["BankQueries", "RoutedFact", "NodeRow", "RouteRow"]

#: (fact key, subject name, object name, key text, leaf, support)
RoutedFact = tuple[int, str, str, str, str, int]
#: (fact key, subject key, relation, object key, object name, key text, leaf, valid_from)
RouteRow = tuple[int, int, str, int, str, str, str, "str | None"]
#: (node, parent, level, centroid bytes, blocked, version)
NodeRow = tuple[str, str, int, bytes, int, int]

_ROUTED = ("SELECT f.key, s.name, o.name, r.key_text, r.leaf, "
           "(SELECT count(*) FROM fact_sources WHERE fact = f.key) "
           "FROM bank_routes r JOIN facts f ON f.key = r.fact "
           "JOIN entities s ON s.key = f.subject JOIN entities o ON o.key = f.object")


class BankQueries:
    """The bank's routing tree, fact routes, block versions and content-addressed weights."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- the tree ---------------------------------------------------------------------------------

    def nodes(self) -> list[NodeRow]:
        """Every node (the anchor is the node at level 0)."""
        return [(n, p, int(lvl), bytes(c), int(b), int(v)) for n, p, lvl, c, b, v in self.engine.query(
            "SELECT node, parent, level, centroid, blocked, version FROM bank_nodes ORDER BY node")]

    def versions(self) -> dict[str, int]:
        """Node -> version (bumped whenever the node's training facts change)."""
        return {n: int(v) for n, v in self.engine.query("SELECT node, version FROM bank_nodes")}

    def version(self, node: str) -> int | None:
        """The version of one node, or None if there is no such node."""
        row = self.engine.query_one("SELECT version FROM bank_nodes WHERE node = ?", (node,))
        return int(row[0]) if row else None

    def replace_tree(self, nodes: Sequence[tuple[str, str, int, bytes]]) -> None:
        """Drop the whole bank (tree, routes, blocks) and insert new nodes at version 1."""
        for table in ("bank_routes", "bank_blocks", "bank_nodes"):
            self.engine.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
        self.engine.executemany("INSERT INTO bank_nodes(node, parent, level, centroid, version) "
                                "VALUES (?, ?, ?, ?, 1)", nodes)

    def clear(self) -> None:
        """Delete the whole bank, weights included."""
        for table in ("bank_routes", "bank_blocks", "bank_nodes", "bank_weights"):
            self.engine.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)

    def bump_versions(self, nodes: Iterable[str]) -> None:
        """Mark nodes' training facts as changed (their blocks are not used until retrained)."""
        self.engine.executemany("UPDATE bank_nodes SET version = version + 1 WHERE node = ?",
                                [(n,) for n in sorted(set(nodes))])

    def state_token(self) -> str:
        """Changes whenever a block is stored, removed, masked or switched (for per-state caches)."""
        nodes = self.engine.query("SELECT node, version, blocked FROM bank_nodes ORDER BY node")
        blocks = self.engine.query("SELECT node, weights, trained_version FROM bank_blocks ORDER BY node")
        return repr((nodes, blocks))

    def set_blocked(self, node: str, blocked: bool) -> int:
        """Switch a node's block off or on; returns the rows changed (0: no such node)."""
        return self.engine.execute("UPDATE bank_nodes SET blocked = ? WHERE node = ?", (int(blocked), node))

    # -- routes -----------------------------------------------------------------------------------

    def add_routes(self, rows: Iterable[tuple[int, str, str, bytes]]) -> None:
        """Record (fact, leaf, key text, key vector bytes) routes."""
        self.engine.executemany("INSERT INTO bank_routes(fact, leaf, key_text, key_vector) VALUES (?, ?, ?, ?)",
                                rows)

    def leaves_of(self, facts: Iterable[int]) -> dict[int, str]:
        """Fact -> the leaf it is routed to, for the routed ones among ``facts``."""
        return {int(f): leaf for f, leaf in self.engine.select_in(
            "SELECT fact, leaf FROM bank_routes WHERE fact IN ({marks})", sorted(set(facts)))}

    def unrouted(self, facts: Iterable[int] | None = None) -> list[tuple[int, str, str, str | None]]:
        """(key, subject name, relation, valid_from) of facts without a route (all, or among ``facts``)."""
        sql = ("SELECT f.key, s.name, f.relation, f.valid_from FROM facts f JOIN entities s ON s.key = f.subject "
               "WHERE f.key NOT IN (SELECT fact FROM bank_routes)")
        rows = (self.engine.query(sql + " ORDER BY f.key") if facts is None else
                sorted(self.engine.select_in(sql + " AND f.key IN ({marks})", sorted(set(facts)))))
        return [(int(k), s, r, vf) for k, s, r, vf in rows]

    def routed(self, node: str | None = None, min_support: int | None = None) -> list[RoutedFact]:
        """Routed facts: all, those in ``node``'s subtree, or those with at least ``min_support`` sources."""
        if node is not None:
            rows = self.engine.query(_ROUTED + " WHERE r.leaf = ? OR r.leaf LIKE ?", (node, node + ".%"))
        elif min_support is not None:
            rows = self.engine.query(_ROUTED + " WHERE (SELECT count(*) FROM fact_sources WHERE fact = f.key) >= ?",
                                     (min_support,))
        else:
            rows = self.engine.query(_ROUTED)
        return [(int(k), s, o, t, leaf, int(n)) for k, s, o, t, leaf, n in rows]

    def route_rows(self) -> list[RouteRow]:
        """Every routed fact with what the bank's membership rules need, by fact key."""
        return [(int(k), int(sk), r, int(ok), o, t, leaf, vf) for k, sk, r, ok, o, t, leaf, vf in self.engine.query(
            "SELECT f.key, f.subject, f.relation, f.object, o.name, r.key_text, r.leaf, f.valid_from "
            "FROM bank_routes r JOIN facts f ON f.key = r.fact JOIN entities o ON o.key = f.object ORDER BY f.key")]

    def routes_token(self) -> tuple[int, ...]:
        """A cheap fingerprint of the routes (changes when a route is added, removed or moved)."""
        row = self.engine.query_one(
            "SELECT count(*), coalesce(sum(fact), 0), coalesce(sum(fact * length(leaf)), 0), "
            "coalesce(sum(fact * length(key_text)), 0) FROM bank_routes")
        return tuple(int(v) for v in row) if row else ()

    def subject_routes(self, subject: int) -> list[tuple[str, str, str | None, str, bytes]]:
        """(relation, key text, valid_from, leaf, key vector bytes) of the routed facts about ``subject``."""
        return [(r, t, vf, leaf, bytes(v)) for r, t, vf, leaf, v in self.engine.query(
            "SELECT f.relation, r.key_text, f.valid_from, r.leaf, r.key_vector FROM bank_routes r "
            "JOIN facts f ON f.key = r.fact WHERE f.subject = ? ORDER BY r.key_text, f.key", (subject,))]

    def key_vectors(self, facts: Iterable[int]) -> dict[int, bytes]:
        """Fact -> its stored key vector bytes."""
        return {int(f): bytes(v) for f, v in self.engine.select_in(
            "SELECT fact, key_vector FROM bank_routes WHERE fact IN ({marks})", facts)}

    def leaf_counts(self) -> dict[str, int]:
        """Leaf -> number of facts routed to it."""
        return {leaf: int(n) for leaf, n in self.engine.query("SELECT leaf, count(*) FROM bank_routes GROUP BY leaf")}

    # -- blocks and weights -----------------------------------------------------------------------

    def blocks(self) -> dict[str, tuple[str, int, int, str]]:
        """Node -> (weights digest, trained version, training facts, training digest)."""
        return {n: (w, int(v), int(f), d) for n, w, v, f, d in self.engine.query(
            "SELECT node, weights, trained_version, facts, training_digest FROM bank_blocks")}

    def store_block(self, node: str, weights: str, data: bytes | None, trained_version: int, facts: int,
                    training_digest: str) -> None:
        """Record a node's trained block (and its weights, unless already stored)."""
        if data is not None:
            self.engine.execute("INSERT INTO bank_weights(digest, data) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                (weights, data))
        self.engine.execute(
            "INSERT INTO bank_blocks(node, weights, trained_version, facts, training_digest) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(node) DO UPDATE SET weights = excluded.weights, trained_version = excluded.trained_version, "
            "facts = excluded.facts, training_digest = excluded.training_digest",
            (node, weights, trained_version, facts, training_digest))

    def delete_block(self, node: str) -> None:
        """Remove a node's block (it has no training facts left)."""
        self.engine.execute("DELETE FROM bank_blocks WHERE node = ?", (node,))

    def weights(self, digest: str) -> bytes | None:
        """The stored weights with this digest, or None."""
        row = self.engine.query_one("SELECT data FROM bank_weights WHERE digest = ?", (digest,))
        return bytes(row[0]) if row else None

    def all_weights(self) -> list[tuple[str, bytes]]:
        """Every stored (digest, weights) pair."""
        return [(d, bytes(w)) for d, w in self.engine.query("SELECT digest, data FROM bank_weights")]

    def delete_unreferenced_weights(self) -> int:
        """Delete weights no block uses; returns how many."""
        return self.engine.execute("DELETE FROM bank_weights WHERE digest NOT IN (SELECT weights FROM bank_blocks)")

    def weights_bytes(self) -> int:
        """Total size of the stored weights."""
        row = self.engine.query_one("SELECT coalesce(sum(length(data)), 0) FROM bank_weights")
        return int(row[0]) if row else 0

    def facts_for_fit(self) -> list[tuple[int, str, str, str | None, str, int]]:
        """(key, subject name, relation, valid_from, object name, support) of every fact, by key."""
        return [(int(k), s, r, vf, o, int(n)) for k, s, r, vf, o, n in self.engine.query(
            "SELECT f.key, s.name, f.relation, f.valid_from, o.name, "
            "(SELECT count(*) FROM fact_sources WHERE fact = f.key) FROM facts f "
            "JOIN entities s ON s.key = f.subject JOIN entities o ON o.key = f.object ORDER BY f.key")]

    def probes(self) -> list[tuple[int, int, str, str, str, str, bytes, str]]:
        """(fact, subject key, subject, relation, object, key text, key vector, leaf) of every routed fact,
        by key text and object (for benchmarks)."""
        return [(int(k), int(sk), s, r, o, t, bytes(v), leaf) for k, sk, s, r, o, t, v, leaf in self.engine.query(
            "SELECT f.key, f.subject, s.name, f.relation, o.name, r.key_text, r.key_vector, r.leaf "
            "FROM bank_routes r JOIN facts f ON f.key = r.fact JOIN entities s ON s.key = f.subject "
            "JOIN entities o ON o.key = f.object ORDER BY r.key_text, o.name")]
