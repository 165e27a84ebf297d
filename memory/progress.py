"""Progress bars for long work, silenced everywhere at once by ``-q`` or ``MEMORY_QUIET=1``."""

from __future__ import annotations

import os
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress", "set_quiet", "quiet"]

_QUIET = [os.environ.get("MEMORY_QUIET", "") not in ("", "0")]


def set_quiet(value: bool) -> None:
    """Silence (or allow) every progress bar of the package."""
    _QUIET[0] = bool(value)


def quiet() -> bool:
    """Whether progress bars are silenced."""
    return _QUIET[0]


def progress(iterable: Any = None, *, minimum: int = 0, size: int | None = None, **kwargs: Any) -> Any:
    """A tqdm bar, shown only for work of at least ``minimum`` items and never when quiet.

    ``size`` is the amount of work when ``iterable`` has no length (defaults to ``total``).
    """
    amount = size if size is not None else kwargs.get("total")
    if amount is None and iterable is not None and hasattr(iterable, "__len__"):
        amount = len(iterable)
    hide = quiet() or (amount is not None and amount < minimum)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, disable=True if hide else None, **kwargs)
