"""Passages and their embeddings in Qdrant: local mode in a folder by default, a server by
URL for many machines. One collection per run, so runs never see each other's papers."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.embeddings import DIMENSIONS


@dataclass(frozen=True)
class Passage:
    paper: str
    page: int
    chunk: int
    text: str


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


class PassageStore:
    def __init__(self, path: Path | None = None, url: str | None = None) -> None:
        from qdrant_client import QdrantClient

        # Local mode holds a file lock on its folder: one client per process, shared.
        self._client = QdrantClient(url=url) if url else QdrantClient(path=str(path))
        self._lock = threading.Lock()
        self._known: set[str] = set()

    @staticmethod
    def collection(run_id: str) -> str:
        return f"passages_{run_id}".replace("-", "_")

    def _ensure(self, name: str) -> None:
        from qdrant_client import models

        if name in self._known:
            return
        if not self._client.collection_exists(name):
            self._client.create_collection(name, vectors_config=models.VectorParams(
                size=DIMENSIONS, distance=models.Distance.COSINE))
        self._known.add(name)

    def add(self, run_id: str, passages: list[Passage], vectors: list[list[float]]) -> None:
        from qdrant_client import models

        name = self.collection(run_id)
        points = [
            models.PointStruct(
                # The same passage stored twice (a redelivered task) overwrites itself.
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{p.paper}#{p.page}#{p.chunk}")),
                vector=vector,
                payload={"paper": p.paper, "page": p.page, "chunk": p.chunk, "text": p.text})
            for p, vector in zip(passages, vectors, strict=True)]
        with self._lock:
            self._ensure(name)
            self._client.upsert(name, points=points, wait=True)

    def search(self, run_id: str, vector: list[float], limit: int = 3,
               paper: str | None = None) -> list[Hit]:
        from qdrant_client import models

        name = self.collection(run_id)
        where: Any = None
        if paper is not None:
            where = models.Filter(must=[models.FieldCondition(
                key="paper", match=models.MatchValue(value=paper))])
        with self._lock:
            if not self._client.collection_exists(name):
                return []
            found = self._client.query_points(name, query=vector, limit=limit,
                                              query_filter=where).points
        return [Hit(Passage(**{k: point.payload[k] for k in ("paper", "page", "chunk", "text")}),
                    float(point.score)) for point in found]

    def close(self) -> None:
        self._client.close()
