"""The id of an adapter's weights: sha256 over its tensors in name order (peft's names, which
carry no adapter name), the same in a host's memory and in a saved file."""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["tensor_digest"]


def tensor_digest(tensors: dict[str, Any]) -> str:
    hasher = hashlib.sha256()
    for name, tensor in sorted(tensors.items()):
        hasher.update(name.encode())
        hasher.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return "sha256:" + hasher.hexdigest()
