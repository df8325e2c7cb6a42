"""The README's HTTP walkthrough, run as written (the curl lines, against the real app): each
request carries exactly the headers its line gives, with the values the block sets, so a
line that forgets `Content-Type: application/json` fails here as it fails against
`karma serve`."""

import json
import re
import shlex
from pathlib import Path

from fastapi.testclient import TestClient

from entrypoints.http_api import create_app

README = Path(__file__).resolve().parents[2] / "README.md"
CURL = re.compile(r"^curl .*?(?=^curl |\Z)", re.DOTALL | re.MULTILINE)
VARIABLE = re.compile(r'(\w+)="([^"]*)"')


def walkthrough() -> tuple[dict[str, str], list[str]]:
    """The block's shell variables and its curl lines."""
    text = README.read_text()
    block = text[text.index('T="Authorization: Bearer $TOKEN"'):]
    block = block[:block.index("```")]
    first = block.splitlines()[0]
    return dict(VARIABLE.findall(first)), [m.group(0) for m in CURL.finditer(block)]


def request_of(line: str, variables: dict[str, str]) -> tuple[str, dict[str, str], bytes | None]:
    """(path, headers, body) of a curl line as the shell and curl would send them."""
    words = shlex.split(re.sub(r'\$(\w+)', lambda m: variables.get(m[1], m[0]), line))
    headers: dict[str, str] = {}
    body: bytes | None = None
    path = ""
    iterator = iter(words[1:])
    for word in iterator:
        if word in ("-sH", "-H"):
            name, _, value = next(iterator).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            body = next(iterator).encode()
            # curl -d without a Content-Type header sends a form: so does this test.
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif word.startswith("localhost:8000"):
            path = word.removeprefix("localhost:8000")
    return path, headers, body


def test_the_readme_walkthrough_runs_as_written(container):
    variables, lines = walkthrough()
    assert len(lines) >= 10
    variables["TOKEN"] = container.tokens.create("admin").token
    variables["T"] = f"Authorization: Bearer {variables['TOKEN']}"
    with TestClient(create_app(container)) as client:
        for line in lines:
            path, headers, body = request_of(line, variables)
            if body is not None:
                json.loads(body)  # the example's body is JSON
                response = client.post(path, content=body, headers=headers)
            else:
                response = client.get(path, headers=headers)
            assert response.status_code == 200, (line, response.text)
    history = response.json()
    assert [entry["kind"] for entry in history] == ["minted"]
    assert history[0]["formula"]["delta"] == history[0]["amount"] == "6.066200"


def test_a_curl_body_without_a_json_content_type_is_refused_clearly(container):
    """What the README's lines did before they named the content type: curl's -d form."""
    variables, lines = walkthrough()
    variables["T"] = f"Authorization: Bearer {container.tokens.create('admin').token}"
    path, headers, body = request_of(lines[0].replace(' -H "$J"', ""), variables)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    with TestClient(create_app(container)) as client:
        response = client.post(path, content=body, headers=headers)
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["error"]["message"]
