"""/docs and /redoc work offline: every script, style sheet and icon they load comes from
the app itself, not from a CDN."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from entrypoints.http_api import create_app

CONTENT_TYPE_OF = {"script": "javascript", "stylesheet": "text/css", "icon": "image/"}


class LoadedUrls(HTMLParser):
    """The URLs a page makes the browser load: <script src> and <link href>, by kind."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(("script", attributes["src"]))
        elif tag == "link" and attributes.get("href"):
            rel = attributes.get("rel") or ""
            self.urls.append(("stylesheet" if "stylesheet" in rel else "icon",
                              attributes["href"]))


def loaded_urls(html: str) -> list[tuple[str, str]]:
    parser = LoadedUrls()
    parser.feed(html)
    return parser.urls


@pytest.fixture
def client(container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as test_client:
        yield test_client


@pytest.mark.parametrize(("page", "expected"), [
    ("/docs", {"script", "stylesheet", "icon"}),
    ("/redoc", {"script", "icon"}),
])
def test_the_docs_page_loads_only_files_the_app_serves(client, page, expected):
    response = client.get(page)  # no token: the API's description is public
    assert response.status_code == 200, response.text
    urls = loaded_urls(response.text)
    assert {kind for kind, _ in urls} == expected, urls
    for kind, url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from elsewhere"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert CONTENT_TYPE_OF[kind] in asset.headers["content-type"], (url, asset.headers)
        assert len(asset.content) > 1000, url


def test_the_pages_name_the_openapi_document_the_app_serves(client):
    for page in ("/docs", "/redoc"):
        assert "/openapi.json" in client.get(page).text
    assert client.get("/openapi.json").json()["info"]["title"] == "Karma Ledger"


def test_swagger_ui_oauth2_redirect_page_is_served(client):
    response = client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "oauth2" in response.text.lower()


def test_the_docs_pages_stay_out_of_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/docs", "/redoc", "/docs/oauth2-redirect"} & set(paths)
    assert not any(path.startswith("/docs-assets") for path in paths)
