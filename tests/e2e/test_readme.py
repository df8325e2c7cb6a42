"""The README's HTTP walkthrough, run as written (the curl lines, against the real app)."""

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from entrypoints.http_api import create_app

README = Path(__file__).resolve().parents[2] / "README.md"
CURL = re.compile(r'curl -sH "\$T" "?localhost:8000(?P<path>[^\s"]+)"?(?: -d \'(?P<body>.*?)\')?',
                  re.DOTALL)


def readme_requests() -> list[tuple[str, dict | None]]:
    text = README.read_text()
    block = text[text.index('T="Authorization: Bearer $TOKEN"'):]
    block = block[:block.index("```")]
    return [(m["path"], json.loads(m["body"]) if m["body"] else None)
            for m in CURL.finditer(block)]


def test_the_readme_walkthrough_runs_as_written(container):
    requests = readme_requests()
    assert len(requests) >= 10
    token = container.tokens.create("admin").token
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(container)) as client:
        for path, body in requests:
            response = (client.post(path, json=body, headers=headers) if body is not None
                        else client.get(path, headers=headers))
            assert response.status_code == 200, (path, response.text)
    history = response.json()
    assert [entry["kind"] for entry in history] == ["minted"]
    assert history[0]["formula"]["delta"] == history[0]["amount"] == "6.066200"
