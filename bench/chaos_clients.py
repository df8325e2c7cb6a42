"""The clients of ``bench.chaos``: writers that drive ``karma serve`` over its HTTP API and over
A2A (the official ``a2a-sdk`` client), each keeping a journal of what the server acknowledged,
and the task handler its ``karma worker`` processes run.

    CHAOS_TOKEN=... python -m bench.chaos_clients http --name http-1 \\
        --base http://127.0.0.1:8000 --folder DIR --seed 7
    CHAOS_TOKEN=... python -m bench.chaos_clients a2a --name a2a-1 ...

(``CHAOS_TOKEN``: an admin token, from ``karma tokens create --role admin``.)

A writer may be killed (SIGKILL) at any instant and started again with the same arguments; it
stops by itself, after the write in hand, once ``DIR/stop`` exists. Its journal
(``DIR/journals/NAME.jsonl``) has a line when a write is sent and another when its fate is
known:

- ``acked``: the server answered that it holds the write. It must exist, exactly once.
- ``uncertain``: a mint whose answer was lost (the server died mid-request, or answered 503
  while the database went away: the README says such a write may have landed). Minting is not
  idempotent, so it is never resent: it may exist, at most once.
- ``refused``: a 4xx that no retry changes; the bench reports it.

Issuing a task (the client names its id), an A2A message (its task id derives from the
``messageId``) and a review (one per reviewer) are idempotent: they are resent until answered,
by a restarted writer too, and a "409 already exists" after a lost answer is the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from uuid import uuid4

import httpx
import orjson

from app.settings import Settings
from workers.task_handlers import fetch_paper
from workers.task_worker import TaskMessage, TaskOutcome

ACCOUNTS = tuple(f"chaos-{i}" for i in range(6))
"""The agents whose karma the writers mint."""
REVIEWER = "chaos-reviewer"
PAPER = "paper.pdf"
"""In the bench's folder: what every Fetch_Paper task fetches."""
MINIMAL_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
               b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
TASK_SECONDS = (0.02, 0.3)
"""How long a task takes a worker: long enough that some kills land mid-task."""
OPEN_TASKS = 6
"""A writer issues a new task only while fewer of its own are unfinished: the backlog of work
stays bounded, as a client that waits on its tasks keeps it, and the end of a run does not
wait on a queue that grew for the whole chaos."""
RUNS = "runs"
"""In the bench's folder: a file per run of a task (see ``fetch_slowly``)."""
RUN_SEPARATOR = "~"
"""Between a run file's task id, process id and time: no id has one."""
WRITING = "writing"
"""What a writer prints once it is ready to write (``bench.chaos`` waits for it)."""
TOKEN_VARIABLE = "CHAOS_TOKEN"
"""Carries the writers' admin token: a command line is visible to every user (``ps``)."""
GIVE_UP_S = 120.0
"""How long a writer keeps resending one write while the server stays away."""

Op = Literal["mint", "task", "a2a", "review"]
State = Literal["sent", "acked", "uncertain", "refused"]
IDEMPOTENT: frozenset[str] = frozenset({"task", "a2a", "review"})


def fetch_slowly(message: TaskMessage) -> TaskOutcome:
    """``Fetch_Paper`` that first takes ``payload['seconds']``, so that a worker killed at a
    random instant is often killed mid-task (``karma worker --handlers bench.chaos_clients``).
    Every run leaves a file in ``payload['runs']``: a task run twice was redelivered."""
    runs = Path(message.payload["runs"])
    (runs / f"{message.task_id}{RUN_SEPARATOR}{os.getpid()}{RUN_SEPARATOR}{time.time_ns()}"
     ).touch()
    time.sleep(float(message.payload.get("seconds", 0)))
    return fetch_paper(message, Settings().home_path / "papers")


HANDLERS = {"Fetch_Paper": fetch_slowly}


@dataclass(frozen=True)
class Write:
    """One write as its journal last recorded it."""

    ref: str
    """Unique: the mint's reason, the task's id, the A2A messageId, or the review's key."""
    op: Op
    state: State
    request: dict[str, Any]
    """What was sent: enough for a restarted writer to send it again."""
    task_id: str | None = None
    """The task the write issued or reviewed (an A2A task's id is the server's answer)."""
    detail: str = ""


class Journal:
    """Append-only, one JSON line per change; the last line of a ref is its state. Lines are
    handed to the kernel as they are written, so a SIGKILL loses none that was written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", buffering=1)

    def record(self, write: Write) -> Write:
        self._file.write(orjson.dumps(write.__dict__).decode() + "\n")
        return write

    @staticmethod
    def read(path: Path) -> dict[str, Write]:
        writes: dict[str, Write] = {}
        if not path.exists():
            return writes
        for line in path.read_text().splitlines():
            try:
                write = Write(**orjson.loads(line))
            except (orjson.JSONDecodeError, TypeError):
                continue  # a line cut short by a kill: its write stays as last recorded
            writes[write.ref] = write
        return writes

    def pending(self) -> list[Write]:
        """Idempotent writes sent but never answered: to send again."""
        return [w for w in self.read(self.path).values()
                if w.state == "sent" and w.op in IDEMPOTENT]


@dataclass(frozen=True)
class WriterArgs:
    name: str
    base: str
    token: str
    folder: Path
    seed: int

    @property
    def journal(self) -> Path:
        return self.folder / "journals" / f"{self.name}.jsonl"

    @property
    def stopping(self) -> bool:
        return (self.folder / "stop").exists()

    def payload(self, rng: random.Random) -> dict[str, Any]:
        return {"path": str(self.folder / PAPER), "runs": str(self.folder / RUNS),
                "seconds": round(rng.uniform(*TASK_SECONDS), 3)}


def pause(answer: httpx.Response | None = None) -> None:
    retry_after = answer.headers.get("Retry-After") if answer is not None else None
    time.sleep(min(float(retry_after), 2.0) if retry_after else 0.2)


class HttpWriter:
    """Mints karma, issues Fetch_Paper tasks with a stake, and reviews its completed tasks."""

    def __init__(self, args: WriterArgs) -> None:
        self.args = args
        # Its own sequence of choices per start: a restarted writer does not replay the last.
        self.rng = random.Random(f"{args.seed}:{args.name}:{os.getpid()}")
        self.journal = Journal(args.journal)
        self.client = httpx.Client(base_url=args.base, timeout=30,
                                   headers={"Authorization": f"Bearer {args.token}"})
        written = Journal.read(args.journal).values()
        reviewed = {w.task_id for w in written if w.op == "review"}
        self.unreviewed = [w.task_id for w in written
                           if w.op == "task" and w.state == "acked" and w.task_id not in reviewed
                           ][-OPEN_TASKS:]

    def run(self) -> None:
        print(f"{self.args.name} {WRITING}", flush=True)
        for write in self.journal.pending():
            self.send(write)
        while not self.args.stopping:
            draw = self.rng.random()
            if draw < 0.85 and len(self.unreviewed) < OPEN_TASKS:
                self.issue() if draw >= 0.5 else self.mint()
            elif self.unreviewed and draw >= 0.5:
                self.review()
            else:
                self.mint()

    def mint(self) -> None:
        ref = f"{self.args.name}.{uuid4().hex[:12]}"
        self.send(Write(ref, "mint", "sent", {
            "path": "/v1/karma/mint", "body": {
                "agent_id": self.rng.choice(ACCOUNTS), "reason": ref,
                "amount": self.rng.choice(("0.5", "1", "2.25"))}}))

    def issue(self) -> None:
        task_id = f"{self.args.name}.{uuid4().hex[:12]}"
        self.send(Write(task_id, "task", "sent", {
            "path": "/v1/tasks", "body": {
                "task_id": task_id, "task_type": "Fetch_Paper", "tags": ["fetch"],
                "payload": self.args.payload(self.rng), "base_reward": "2",
                "stake_required": "0.5"}}, task_id=task_id))

    def review(self) -> None:
        """Score the oldest task this writer issued, once the read side says it completed."""
        task_id = self.unreviewed[0]
        try:
            seen = self.client.get(f"/v1/tasks/{task_id}")
        except httpx.TransportError:
            pause()
            return
        if seen.status_code != 200 or seen.json().get("state") != "completed":
            self.unreviewed.append(self.unreviewed.pop(0))  # not yet: another one next time
            return
        self.unreviewed.pop(0)
        self.send(Write(f"review.{task_id}", "review", "sent", {
            "path": f"/v1/tasks/{task_id}/reviews", "body": {
                "reviewer_id": REVIEWER, "rationale": "chaos",
                "quality": f"{self.rng.uniform(0, 1.5):.2f}"}}, task_id=task_id))

    def send(self, write: Write) -> Write:
        """POST until the server's answer settles the write's fate (see the module's doc)."""
        self.journal.record(write)
        idempotent = write.op in IDEMPOTENT
        deadline = time.monotonic() + GIVE_UP_S
        while time.monotonic() < deadline:
            try:
                answer = self.client.post(write.request["path"], json=write.request["body"])
            except (httpx.ConnectError, httpx.ConnectTimeout):
                pause()  # nothing reached the server: sending again is safe for any write
                continue
            except httpx.TransportError:
                if not idempotent:  # it may have been executed before the answer was lost
                    return self.journal.record(_with(write, "uncertain"))
                pause()
                continue
            code = error_code(answer)
            if answer.is_success or code in ("already_exists", "duplicate_review"):
                if write.op == "task":
                    self.unreviewed.append(write.task_id)
                return self.journal.record(_with(write, "acked"))
            if answer.status_code >= 500 or code == "conflict":
                # 503 database_unavailable, or a lost race retried to exhaustion (conflict):
                # a mint answered 503 may still have landed (README), so it is not resent.
                if not idempotent and answer.status_code >= 500:
                    return self.journal.record(_with(write, "uncertain"))
                pause(answer)
                continue
            return self.journal.record(_with(write, "refused", f"{answer.status_code} {code}"))
        return write  # still "sent": the bench counts it as a write that may exist


def error_code(answer: httpx.Response) -> str | None:
    """The ``error.code`` of a refusal (None for a success, or a body that is not ours)."""
    if not answer.is_error:
        return None
    try:
        return answer.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def _with(write: Write, state: State, detail: str = "", task_id: str | None = None) -> Write:
    return Write(write.ref, write.op, state, write.request, task_id or write.task_id, detail)


class A2aWriter:
    """Sends A2A messages that issue Fetch_Paper tasks, through the a2a-sdk client, on the A2A
    1.0 interface and the 0.3 one in turn."""

    def __init__(self, args: WriterArgs) -> None:
        self.args = args
        self.rng = random.Random(f"{args.seed}:{args.name}:{os.getpid()}")
        self.journal = Journal(args.journal)

    async def run(self) -> None:
        from a2a.client import A2ACardResolver, ClientConfig, ClientFactory

        headers = {"Authorization": f"Bearer {self.args.token}"}
        # One httpx client per generation: the SDK sets its A2A-Version header on the client.
        async with httpx.AsyncClient(headers=headers, timeout=30) as modern_http, \
                httpx.AsyncClient(headers=headers, timeout=30) as legacy_http:
            clients = []
            for version, http in (("1.0", modern_http), ("0.3", legacy_http)):
                card = await self._card(A2ACardResolver(http, self.args.base))
                kept = [i for i in card.supported_interfaces if i.protocol_version == version]
                del card.supported_interfaces[:]
                card.supported_interfaces.extend(kept)
                clients.append(ClientFactory(ClientConfig(httpx_client=http, streaming=False))
                               .create(card))
            print(f"{self.args.name} {WRITING}", flush=True)
            for write in self.journal.pending():
                await self.send(self.rng.choice(clients), write)
            written = Journal.read(self.args.journal).values()
            unfinished = [w.task_id for w in written if w.state == "acked"][-OPEN_TASKS:]
            while not self.args.stopping:
                client = self.rng.choice(clients)
                if len(unfinished) >= OPEN_TASKS:
                    await self.look_at(client, unfinished)
                    continue
                message_id = f"{self.args.name}.{uuid4().hex[:12]}"
                sent = await self.send(client, Write(message_id, "a2a", "sent", {
                    "payload": self.args.payload(self.rng), "context": self.args.name}))
                if sent.state == "acked":
                    unfinished.append(sent.task_id)

    async def look_at(self, client: Any, unfinished: list[str]) -> None:
        """GetTask on the oldest unfinished task: dropped from the list once it has ended."""
        from a2a.types import a2a_pb2 as a2a
        from a2a.utils.errors import A2AError

        try:
            task = await client.get_task(a2a.GetTaskRequest(id=unfinished[0]))
        except (A2AError, httpx.TransportError):
            await asyncio.sleep(0.2)  # the server is away: look again later
            return
        if task.status.state in (a2a.TASK_STATE_COMPLETED, a2a.TASK_STATE_FAILED,
                                 a2a.TASK_STATE_CANCELED, a2a.TASK_STATE_REJECTED):
            unfinished.pop(0)
        else:
            unfinished.append(unfinished.pop(0))
            await asyncio.sleep(0.05)

    async def _card(self, resolver: Any) -> Any:
        from a2a.client import A2AClientError

        while True:
            try:
                return await resolver.get_agent_card()
            except (A2AClientError, httpx.TransportError):
                await asyncio.sleep(0.2)  # the server is not up (yet, or again)

    async def send(self, client: Any, write: Write) -> Write:
        from a2a.client import A2AClientError
        from a2a.types import a2a_pb2 as a2a
        from a2a.utils.errors import A2AError, InternalError
        from google.protobuf.json_format import ParseDict

        self.journal.record(write)
        message = ParseDict({
            "messageId": write.ref, "role": "ROLE_USER", "contextId": write.request["context"],
            "parts": [{"data": write.request["payload"]}],
            "metadata": {"task_type": "Fetch_Paper"}}, a2a.Message())
        deadline = time.monotonic() + GIVE_UP_S
        while time.monotonic() < deadline:
            try:
                answers = [answer async for answer in client.send_message(
                    a2a.SendMessageRequest(message=message))]
            except (A2AClientError, InternalError, httpx.TransportError):
                # Network errors, a 503 and lost races: the same messageId is the same task,
                # so sending it again is safe.
                await asyncio.sleep(0.2)
                continue
            except A2AError as error:
                return self.journal.record(_with(write, "refused", repr(error)))
            return self.journal.record(_with(write, "acked", task_id=answers[0].task.id))
        return write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("protocol", choices=("http", "a2a"))
    parser.add_argument("--name", required=True)
    parser.add_argument("--base", required=True, help="karma serve's URL")
    parser.add_argument("--folder", type=Path, required=True, help="the bench's folder")
    parser.add_argument("--seed", type=int, default=0)
    parsed = parser.parse_args()
    args = WriterArgs(parsed.name, parsed.base, os.environ[TOKEN_VARIABLE], parsed.folder,
                      parsed.seed)
    if parsed.protocol == "http":
        HttpWriter(args).run()
    else:
        asyncio.run(A2aWriter(args).run())


if __name__ == "__main__":
    main()
