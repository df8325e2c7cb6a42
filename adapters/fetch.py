"""Fetching a paper: a local path, a file:// URL, or http(s) where the network allows."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

MAX_BYTES = 50 * 1024 * 1024
PDF_MAGIC = b"%PDF-"


class FetchRefusedError(ValueError):
    """The source can never give a paper (missing file, not a PDF, unsupported scheme)."""


class FetchUnavailableError(RuntimeError):
    """The source may answer later (network down, server error): worth a retry."""


@dataclass(frozen=True)
class FetchedPaper:
    uri: str
    sha256: str
    size: int


def fetch_pdf(location: str, cache_dir: Path, timeout: float = 30.0) -> FetchedPaper:
    """Read the PDF at ``location``; remote papers are stored under ``cache_dir`` by hash."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        path = Path(unquote(parsed.path if parsed.scheme else location)).expanduser()
        if not path.is_file():
            raise FetchRefusedError(f"no such file: {path}")
        if path.stat().st_size > MAX_BYTES:
            raise FetchRefusedError(f"{path} is larger than {MAX_BYTES} bytes")
        content = path.read_bytes()
        uri = path.resolve().as_uri()
    elif parsed.scheme in ("http", "https"):
        content = _download(location, timeout)
        uri = None
    else:
        raise FetchRefusedError(f"cannot fetch {parsed.scheme!r} URLs: {location}")
    if not content.startswith(PDF_MAGIC):
        raise FetchRefusedError(f"{location} is not a PDF (it does not start with %PDF-)")
    digest = hashlib.sha256(content).hexdigest()
    if uri is None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        cached = cache_dir / f"{digest}.pdf"
        cached.write_bytes(content)
        uri = cached.resolve().as_uri()
    return FetchedPaper(uri=uri, sha256=digest, size=len(content))


def _download(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only
            content = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as error:
        if 400 <= error.code < 500:
            raise FetchRefusedError(f"{url} answered {error.code} {error.reason}") from None
        raise FetchUnavailableError(f"{url} answered {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise FetchUnavailableError(f"cannot reach {url}: {error}") from None
    if len(content) > MAX_BYTES:
        raise FetchRefusedError(f"{url} is larger than {MAX_BYTES} bytes")
    return content
