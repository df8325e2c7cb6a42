"""Text out of a PDF with pypdf, page by page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_PAGES = 200


class UnreadablePdfError(ValueError):
    """The file is not a PDF pypdf can read, or holds no text."""


@dataclass(frozen=True)
class Page:
    number: int
    text: str


def read_pages(path: Path) -> list[Page]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path, strict=False)
        if len(reader.pages) > MAX_PAGES:
            raise UnreadablePdfError(f"{path.name} has {len(reader.pages)} pages; "
                                     f"the limit is {MAX_PAGES}")
        pages = [Page(number, " ".join((page.extract_text() or "").split()))
                 for number, page in enumerate(reader.pages, start=1)]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:
        if isinstance(error, UnreadablePdfError):
            raise
        raise UnreadablePdfError(f"{path.name} is not a readable PDF: {error}") from None
    pages = [page for page in pages if page.text]
    if not pages:
        raise UnreadablePdfError(f"{path.name} holds no extractable text")
    return pages
