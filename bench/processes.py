"""CPU time per process group over a window of a benchmark: which of the processes sharing
the machine's cores spent them (our own processes by pid, the servers by name)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import psutil

SERVERS = {"postgres": "PostgreSQL", "nats-server": "NATS"}
"""Process names of the servers, and how the table calls them."""


@dataclass(frozen=True)
class Sample:
    at: float
    seconds: dict[str, float]
    """CPU seconds (user + system) so far, by group."""


class CpuAccount:
    """Groups every process on the machine: the named ``ours`` pids, the servers, the rest."""

    def __init__(self, ours: dict[str, int]) -> None:
        self.ours = {pid: name for name, pid in ours.items()}

    def sample(self) -> Sample:
        seconds: dict[str, float] = defaultdict(float)
        for process in psutil.process_iter(["name", "cpu_times"]):
            times = process.info["cpu_times"]
            if times is None:  # gone, or not ours to read
                continue
            group = self.ours.get(process.pid) or SERVERS.get(process.info["name"], "other")
            seconds[group] += times.user + times.system
        return Sample(time.monotonic(), dict(seconds))

    @staticmethod
    def cores_busy(start: Sample, end: Sample) -> dict[str, float]:
        """Cores each group kept busy on average between two samples."""
        span = end.at - start.at
        return {group: (end.seconds.get(group, 0.0) - start.seconds.get(group, 0.0)) / span
                for group in end.seconds}
