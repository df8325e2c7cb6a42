"""A NATS address as the settings give it: one server's URL, or a cluster's URLs separated by
commas (``nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222``). A client given them
all can connect while any one is up; once connected it also learns the cluster's other nodes
from the server."""

from __future__ import annotations


def servers(url: str) -> list[str]:
    """The URLs in ``url``, in the order given."""
    found = [part.strip() for part in url.split(",") if part.strip()]
    if not found:
        raise ValueError(f"no NATS server in {url!r}")
    return found
