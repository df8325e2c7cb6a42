"""Asks a NATS server whether it is up and has JetStream, for ``karma status``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import nats
from nats.errors import Error as NatsError

from adapters.nats_servers import servers


@dataclass(frozen=True)
class NatsHealth:
    reachable: bool
    jetstream: bool
    detail: str


async def _probe(url: str, timeout: float) -> NatsHealth:
    try:
        client = await nats.connect(servers(url), connect_timeout=timeout,
                                    max_reconnect_attempts=0,
                                    allow_reconnect=False)
    except (TimeoutError, NatsError, OSError) as error:
        return NatsHealth(False, False, f"unreachable: {error or type(error).__name__}")
    try:
        info = await client.jetstream().account_info()
        return NatsHealth(True, True, f"JetStream on, {info.streams} streams")
    except (TimeoutError, NatsError) as error:
        return NatsHealth(True, False, f"JetStream unavailable: {error}")
    finally:
        await client.close()


def probe(url: str, timeout: float = 2.0) -> NatsHealth:
    return asyncio.run(_probe(url, timeout))
