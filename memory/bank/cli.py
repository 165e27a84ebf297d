"""``python -m memory bank fit|recall|stats|block|unblock`` (thin: parse, call, print)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable

from ..cliutil import add_common, emit, require_store
from ..config import BankConfig

__all__ = ["add_bank_parser"]

_FIT_OPTIONS = ("branching", "depth", "min_leaf", "hidden", "upper_hidden", "anchor_hidden",
                "shared_min_subjects", "epochs", "seed")


def _fit(store: Any, args: argparse.Namespace) -> dict[str, Any]:
    overrides = {name: getattr(args, name) for name in _FIT_OPTIONS if getattr(args, name) is not None}
    report = store.bank.fit(dataclasses.replace(store.config.bank, **overrides))
    return {"facts": report.routed, "blocks_trained": len(report.retrained),
            "seconds": round(report.seconds, 2), **store.bank.stats()}


def _recall(store: Any, args: argparse.Namespace) -> dict[str, Any]:
    return store.bank.recall(args.subject, args.relation, as_of=args.as_of, threshold=args.threshold).to_dict()


def _switch(on: bool) -> Callable[[Any, argparse.Namespace], dict[str, Any]]:
    def run(store: Any, args: argparse.Namespace) -> dict[str, Any]:
        (store.bank.unblock if on else store.bank.block)(args.node)
        return {"node": args.node, "blocked": not on}
    return run


def add_bank_parser(sub: Any, open_store: Callable[[Any], Any]) -> None:
    """Add the ``bank`` command (with its sub-commands) to the CLI's sub-parsers."""
    bank = sub.add_parser("bank", help="the parametric memory bank: fit, recall, stats, sync, block",
                          description="Fit the hierarchical memory bank on the store's facts, ask it "
                                      "closed-book, inspect it, or switch blocks off and on.")
    add_common(bank)
    actions = bank.add_subparsers(dest="bank_command", required=True, metavar="ACTION",
                                  help="fit, recall, stats, sync, block or unblock")

    def action(name: str, help_text: str, run: Callable[[Any, argparse.Namespace], dict[str, Any]]
               ) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text, description=help_text)
        add_common(parser)

        def call(args: argparse.Namespace) -> int:
            with open_store(require_store(args)) as store:
                result = run(store, args)
            emit(args, result, lambda: "\n".join(f"{key:>16}: {value}" for key, value in result.items()))
            return 0

        parser.set_defaults(func=call)
        return parser

    fit = action("fit", "fit the routing tree and train every block (replaces a fitted bank)", _fit)
    defaults = BankConfig()
    for name in _FIT_OPTIONS:
        fit.add_argument(f"--{name.replace('_', '-')}", type=int, default=None,
                         help=f"override bank.{name} (default {getattr(defaults, name)})")
    recall = action("recall", "answer (subject, relation) closed-book from the bank", _recall)
    recall.add_argument("--subject", required=True, help="entity name")
    recall.add_argument("--relation", required=True, help="relation label, as stored")
    recall.add_argument("--as-of", metavar="DATE", default=None, help="ask about this date (the value holding then)")
    recall.add_argument("--threshold", type=float, default=None,
                        help="abstain below this confidence (default: the fitted bank.threshold)")
    action("stats", "tree shape, parameters, facts per leaf, blocked and stale nodes, bytes",
           lambda store, args: store.bank.stats())
    action("sync", "retrain the blocks awaiting retraining (after a crash cut a retraining off)",
           lambda store, args: {"blocks_retrained": store.bank.sync(), "stale": store.bank.stale()})
    for name, on in (("block", False), ("unblock", True)):
        switch = action(name, f"switch a block {'on' if on else 'off'} without retraining", _switch(on))
        switch.add_argument("node", help="node id, e.g. 0.3")
