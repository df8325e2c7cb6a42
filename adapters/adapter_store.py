"""Adapters shared between the processes of an ecology run through a JetStream object store,
named by their digest: the colony puts an organelle's adapter before assigning it work, a
worker on any machine gets it, trains it and puts the result, and the colony gets that back.
A name is its content's digest, so a copy is checked on arrival and never overwritten by
anything else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
import nats.js.errors
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.object_store import ObjectStore

from adapters.nats_servers import servers


class AdapterMissingError(LookupError):
    """No adapter of that digest was ever put in the store."""


@dataclass(frozen=True)
class AdapterStore:
    nats_url: str
    bucket: str
    replicas: int = 1

    async def put(self, digest: str, data: bytes) -> None:
        async with self._store() as store:
            try:
                await store.get_info(digest)
                return  # the same digest is the same content
            except nats.js.errors.ObjectNotFoundError:
                await store.put(digest, data)

    async def get(self, digest: str) -> bytes:
        async with self._store() as store:
            try:
                result = await store.get(digest)
            except nats.js.errors.ObjectNotFoundError:
                raise AdapterMissingError(f"no adapter {digest} in {self.bucket}") from None
            return result.data

    @contextlib.asynccontextmanager
    async def _store(self) -> AsyncIterator[ObjectStore]:
        """The bucket (created on first use) on a connection of its own."""
        client = await nats.connect(servers(self.nats_url))
        try:
            js = client.jetstream()
            try:
                store = await js.object_store(self.bucket)
            except nats.js.errors.BucketNotFoundError:
                store = await js.create_object_store(self.bucket, config=ObjectStoreConfig(
                    bucket=self.bucket, storage=StorageType.FILE, replicas=self.replicas))
            yield store
        finally:
            await client.close()
