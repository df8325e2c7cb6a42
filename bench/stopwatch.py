"""Busy time per component of a benchmarked run, by wrapping the methods that do the work."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


class Stopwatch:
    """Busy seconds per component, summed over every thread that used it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._turns: dict[str, threading.Lock] = {}

    def wrap(self, owner: Any, method: str, component: str, exclusive: bool = False) -> None:
        """Time ``owner.method``. ``exclusive`` for components that serve one caller at a
        time anyway (the models, the local vector store): the clock starts once the caller
        has its turn, so waiting in line is not counted as the component's time."""
        original: Callable[..., Any] = getattr(owner, method)
        turn = self._turns.setdefault(component, threading.Lock()) if exclusive else None

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with turn if turn is not None else contextlib.nullcontext():
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    with self._lock:
                        self.seconds[component] += time.perf_counter() - started
                        self.calls[component] += 1

        setattr(owner, method, timed)
