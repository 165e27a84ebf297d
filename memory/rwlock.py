"""A readers-writer lock for the derived state one store object shares between threads."""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

__all__ = ["ReadersWriterLock"]


class ReadersWriterLock:
    """Many readers or one writer; a waiting writer goes before readers that arrive after it.

    Examples
    --------
    >>> lock = ReadersWriterLock()
    >>> with lock.reading():
    ...     with lock.reading():
    ...         pass
    >>> with lock.writing():
    ...     pass
    """

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._waiting_writers = 0
        self._local = threading.local()

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the lock shared (re-entrant; a thread holding it exclusively may also read)."""
        me = threading.get_ident()
        depth = getattr(self._local, "depth", 0)
        with self._condition:
            if self._writer != me and depth == 0:
                while self._writer is not None or self._waiting_writers:
                    self._condition.wait()
            self._readers += 1
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            with self._condition:
                self._readers -= 1
                self._condition.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the lock exclusively (re-entrant for the holder; not from inside ``reading``)."""
        me = threading.get_ident()
        with self._condition:
            if self._writer == me:
                reentrant = True
            else:
                reentrant = False
                if getattr(self._local, "depth", 0):
                    raise RuntimeError("cannot take the lock exclusively while holding it shared")
                self._waiting_writers += 1
                try:
                    while self._writer is not None or self._readers:
                        self._condition.wait()
                finally:
                    self._waiting_writers -= 1
                self._writer = me
        try:
            yield
        finally:
            if not reentrant:
                with self._condition:
                    self._writer = None
                    self._condition.notify_all()
