"""Snapshots of the derived vector indexes on disk: one file, one generation.

A snapshot holds, for each kind, the keys and vectors of the faiss index as it
was at one database generation, so a process that opens the store starts from it
and catches up through the change log instead of reading every vector. It is
written to a temporary file and renamed into place, under an exclusive file
lock, and only over an older snapshot, so the file on disk is always one
consistent generation and a process that is behind never overwrites a newer one
(in particular, never writes back vectors that a later forget removed).
Format: an uncompressed ``.npz`` read with ``allow_pickle=False`` (no code).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = ["Snapshot", "read_snapshot", "write_snapshot", "snapshot_generation", "retire_snapshot", "SNAPSHOT_NAME"]

logger = logging.getLogger(__name__)

SNAPSHOT_NAME = "vectors.npz"
_LOCK_NAME = "snapshot.lock"
_FLOOR_NAME = "snapshot.floor"  # no snapshot older than this generation may be written
_FORMAT = 1


@dataclass(frozen=True)
class Snapshot:
    """Vector arrays of one generation: ``arrays[kind] = (keys, vectors)``."""

    generation: int
    dim: int
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]


@contextlib.contextmanager
def _file_lock(directory: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: rely on the atomic rename alone
        yield
        return
    with open(directory / _LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def snapshot_generation(directory: Path) -> int | None:
    """The generation of the snapshot in ``directory``, or None if there is none readable."""
    try:
        with np.load(directory / SNAPSHOT_NAME, allow_pickle=False) as data:
            return int(data["generation"])
    except (OSError, ValueError, KeyError):
        return None


def read_snapshot(directory: Path, kinds: tuple[str, ...]) -> Snapshot | None:
    """The snapshot in ``directory``, or None when absent, unreadable or of another format."""
    try:
        with np.load(directory / SNAPSHOT_NAME, allow_pickle=False) as data:
            if int(data["format"]) != _FORMAT:
                return None
            dim = int(data["dim"])
            arrays = {}
            for kind in kinds:
                keys = np.asarray(data[f"{kind}_keys"], dtype=np.int64)
                vectors = np.asarray(data[f"{kind}_vectors"], dtype=np.float32)
                if vectors.shape != (len(keys), dim) or len(np.unique(keys)) != len(keys):
                    return None
                arrays[kind] = (keys, vectors)
            return Snapshot(int(data["generation"]), dim, arrays)
    except (OSError, ValueError, KeyError) as exc:
        logger.info("ignoring the vector snapshot in %s (%s)", directory, exc)
        return None


def write_snapshot(directory: Path, snapshot: Snapshot) -> bool:
    """Write ``snapshot`` unless the one on disk is as new or newer; returns whether it was written.

    Failures (a read-only or full disk) are logged, not raised: the snapshot is a cache.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with _file_lock(directory):
            current = snapshot_generation(directory)
            if current is not None and current >= snapshot.generation:
                return False
            if snapshot.generation < _floor(directory):
                return False  # rows were removed after this state: it must not reach the disk
            payload = {"format": np.int64(_FORMAT), "generation": np.int64(snapshot.generation),
                       "dim": np.int64(snapshot.dim)}
            for kind, (keys, vectors) in snapshot.arrays.items():
                payload[f"{kind}_keys"] = np.asarray(keys, dtype=np.int64)
                payload[f"{kind}_vectors"] = np.asarray(vectors, dtype=np.float32)
            tmp = directory / f".{SNAPSHOT_NAME}.{os.getpid()}.tmp"
            try:
                with open(tmp, "wb") as handle:
                    np.savez(handle, **payload)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, directory / SNAPSHOT_NAME)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            return True
    except OSError as exc:
        logger.warning("could not write the vector snapshot in %s: %s", directory, exc)
        return False


def _floor(directory: Path) -> int:
    try:
        return int((directory / _FLOOR_NAME).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def retire_snapshot(directory: Path, generation: int) -> None:
    """After a write that removed rows at ``generation``: delete an older snapshot and forbid
    writing any snapshot older than ``generation`` from now on (under the file lock, so a
    process that is behind cannot put removed vectors back)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with _file_lock(directory):
            if generation > _floor(directory):
                tmp = directory / f".{_FLOOR_NAME}.{os.getpid()}.tmp"
                tmp.write_text(str(generation))
                os.replace(tmp, directory / _FLOOR_NAME)
            current = snapshot_generation(directory)
            if current is not None and current < generation:
                (directory / SNAPSHOT_NAME).unlink()
    except OSError as exc:
        logger.error("could not retire the vector snapshot in %s: %s", directory, exc)
