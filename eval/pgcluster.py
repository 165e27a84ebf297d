"""A throwaway PostgreSQL cluster from the installed server binaries, for tests and benchmarks.

``initdb`` and ``pg_ctl`` refuse to run as root, so as root the cluster runs as the
``postgres`` system user (Debian's package creates it) through ``runuser``. The cluster
listens on a Unix socket in its own directory (and on no TCP port), trusts local
connections, and sets ``wal_recycle = off`` so retired WAL segments are deleted rather
than kept for reuse (what ``forget(..., purge=True)`` relies on).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

__all__ = ["Cluster", "find_binaries", "throwaway_cluster", "unavailable_reason"]


def find_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (Debian's layout first), or None."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def unavailable_reason() -> str | None:
    """Why no throwaway cluster can be started here (None when one can)."""
    if find_binaries() is None:
        return "no PostgreSQL server binaries (install Debian's postgresql package)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the cluster as"
        if shutil.which("runuser") is None:
            return "running as root without runuser"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    return None


class Cluster:
    """A running throwaway cluster: its data directory, socket directory and port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log = root / "server.log"
        self.port = _free_port()
        self.binaries = find_binaries()
        if self.binaries is None:
            raise RuntimeError(unavailable_reason() or "no PostgreSQL binaries")

    def _run(self, *args: str) -> None:
        command = [str(self.binaries / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> "Cluster":
        """initdb, configure, start; returns self."""
        self.sockets.mkdir(parents=True)
        if os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "--encoding=UTF8",
                  "--no-sync", "--no-instructions")
        settings = {"listen_addresses": "''", "port": str(self.port), "unix_socket_directories": f"'{self.sockets}'",
                    "wal_recycle": "off", "max_connections": "200", "fsync": "off", "synchronous_commit": "off",
                    "full_page_writes": "on", "logging_collector": "off", "log_statement": "none",
                    "shared_buffers": "128MB"}
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as handle:
            handle.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown)."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, schema: str, database: str = "postgres") -> str:
        """A store URL for ``schema`` in this cluster."""
        return f"postgresql://postgres@/{database}?host={self.sockets}&port={self.port}&schema={schema}"

    def conninfo(self, database: str = "postgres") -> str:
        """A libpq connection string (no schema)."""
        return f"postgresql://postgres@/{database}?host={self.sockets}&port={self.port}"

    def data_files(self) -> Iterator[Path]:
        """Every file of the data directory (for residue scans)."""
        for path in self.data.rglob("*"):
            if path.is_file():
                yield path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """Start a cluster in a fresh temporary directory; stop and delete it afterwards."""
    root = Path(tempfile.mkdtemp(prefix="memory-pg-"))
    root.chmod(0o755)
    cluster = Cluster(root / "cluster")
    cluster.root.mkdir()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
