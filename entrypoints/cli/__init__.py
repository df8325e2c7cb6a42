"""The command-line door: ``karma up``, ``status``, ``events list``, ``serve`` and friends.

Each command parses its options, asks the container for what it needs and prints; refused
input exits with status 2 and a message, and writes nothing.
"""

from entrypoints.cli import (  # noqa: F401 - importing registers the commands
    ecology,
    economy,
    knowledge,
    learn,
    learn_inspect,
    learn_label,
    ledger,
    research,
    servers,
    streams,
    travel,
)
from entrypoints.cli.common import app

__all__ = ["app"]
