"""The memory-bank part of :class:`memory.MemoryStore`: ``store.bank`` and ``store.recall``."""

from __future__ import annotations

from typing import Any

from .bank import MemoryBank, Recall

__all__ = ["BankMethods"]


class BankMethods:
    """Mixed into :class:`memory.MemoryStore`."""

    _bank: MemoryBank | None

    @property
    def bank(self) -> MemoryBank:
        """The hierarchical parametric memory bank (``fit()`` it before use)."""
        self._check_open()  # type: ignore[attr-defined]
        if self._bank is None:
            self._bank = MemoryBank(self)  # type: ignore[arg-type]
        return self._bank

    def recall(self, subject: str, relation: str, as_of: Any = None) -> Recall:
        """Closed-book answer from the memory bank: ``.answer``, ``.confidence``, ``.blocks``.

        Raises
        ------
        BankNotFittedError
            Before ``store.bank.fit()``.
        """
        return self.bank.recall(subject, relation, as_of)
