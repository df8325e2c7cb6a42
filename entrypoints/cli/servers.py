"""Servers and the API: up, down, status, db migrate, serve."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import nats
import nats.js.errors
import typer

from adapters import embedded_nats, embedded_postgres, nats_probe
from adapters.nats_servers import servers
from app.bootstrap import Container, redact
from app.settings import Settings
from entrypoints.cli.common import (
    JsonFlag,
    app,
    console,
    container,
    db_app,
    print_json,
)
from entrypoints.cli.tables import projections_table


@app.command()
def up() -> None:
    """Start the embedded PostgreSQL and NATS (JetStream) unless URLs are configured, apply
    migrations, and print where the servers are."""
    with container() as built:
        endpoints = built.endpoints
        built.migrate()
        console.print(f"PostgreSQL  {redact(endpoints.database_url)}"
                      f"  ({'embedded' if endpoints.embedded_database else 'external'})")
        console.print(f"NATS        {endpoints.nats_url}"
                      f"  ({'embedded' if endpoints.embedded_nats else 'external'})")
        console.print(f"data folder {built.settings.home_path}")
        console.print(f"schema      {built.schema_version():04d} (read models migrated)")


@app.command()
def down() -> None:
    """Stop the embedded servers of the data folder (external servers are left alone)."""
    home = Settings().home_path
    stopped_pg = embedded_postgres.stop(home / "postgres")
    stopped_nats = embedded_nats.stop(home / "nats")
    console.print(f"PostgreSQL  {'stopped' if stopped_pg else 'was not running'}")
    console.print(f"NATS        {'stopped' if stopped_nats else 'was not running'}")


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Servers, ledger head and the position of every projection. Starts nothing."""
    settings = Settings()
    home = settings.home_path
    report: dict[str, Any] = {"data_folder": str(home)}
    database_url = settings.database_url
    if database_url is None:
        server = embedded_postgres.running(home / "postgres")
        database_url = server.url if server else None
    nats_url = settings.nats_url
    if nats_url is None:
        nats_server = embedded_nats.running(home / "nats")
        nats_url = nats_server.url if nats_server else None
    report["postgres"] = {"url": redact(database_url) if database_url else None,
                          "embedded": settings.database_url is None}
    report["nats"] = {"url": nats_url, "embedded": settings.nats_url is None}
    if nats_url:
        health = nats_probe.probe(nats_url)
        report["nats"].update(reachable=health.reachable, jetstream=health.jetstream,
                              detail=health.detail)
    if database_url:
        settings_with_url = settings.model_copy(update={"database_url": database_url,
                                                        "nats_url": nats_url or "unused"})
        built = Container(settings_with_url)
        try:
            runner = built.projections
            head = runner.head()
            report["ledger"] = {"head": head}
            report["projections"] = {name: {"position": position, "lag": head - position}
                                     for name, position in runner.positions().items()}
        except Exception as error:  # noqa: BLE001 - status reports what it cannot reach
            report["postgres"]["error"] = f"unreachable: {error}"
        finally:
            built.close()
    if report["nats"].get("jetstream"):
        relayed = asyncio.run(_relayed_position(nats_url, Container(settings).topology))
        if relayed is not None:
            head = report.get("ledger", {}).get("head", relayed)
            report["relay"] = {"position": relayed, "lag": head - relayed}
    if as_json:
        print_json(report)
        return
    console.print(f"data folder  {home}")
    console.print(f"PostgreSQL   {report['postgres']['url'] or 'not running'}"
                  + (f"  ({report['postgres']['error']})" if "error" in report["postgres"] else ""))
    nats_line = report["nats"]["url"] or "not running"
    if "detail" in report["nats"]:
        nats_line += f"  ({report['nats']['detail']})"
    console.print(f"NATS         {nats_line}")
    if "ledger" in report:
        console.print(f"ledger head  {report['ledger']['head']}")
        if "relay" in report:
            console.print(f"on JetStream {report['relay']['position']} "
                          f"(relay lag {report['relay']['lag']})")
        console.print(projections_table(report["projections"]))


async def _relayed_position(nats_url: str, topology: Any) -> int | None:
    """The ledger position of the last event on LEDGER (None: no stream yet)."""
    from streams.relay import read_cursor

    client = await nats.connect(servers(nats_url), connect_timeout=2, max_reconnect_attempts=0)
    try:
        return (await read_cursor(client.jetstream(), topology)).position
    except nats.js.errors.NotFoundError:
        return None
    finally:
        await client.close()


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations from migrations/ (idempotent)."""
    with container() as built:
        applied = built.migrate()
        for migration in applied:
            console.print(f"applied {migration.version:04d}_{migration.name}")
        if not applied:
            console.print("up to date")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    relay: Annotated[bool, typer.Option(help="Also relay the ledger to JetStream.")] = True,
) -> None:
    """Run the HTTP API (OpenAPI at /docs, AsyncAPI at /asyncapi) with projections following
    the ledger and, unless --no-relay, the outbox relay publishing it to JetStream."""
    import uvicorn

    from entrypoints.http_api import create_app

    with container() as built:
        settings = built.settings
        bind, listen = host or settings.api_host, port or settings.api_port
        local = is_loopback(bind)
        api = create_app(built, run_relay=relay, decay_every_s=settings.decay_interval_s,
                         open_reads=local)
        shown = f"[{bind}]" if ":" in bind else bind
        console.print(f"dashboard: http://{shown}:{listen}/ui  (reads "
                      + ("need no token: loopback only" if local else "need a token") + ")")
        uvicorn.run(api, host=bind, port=listen, log_level="info")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` listens on this machine only (a name is resolved)."""
    import ipaddress
    import socket

    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback
                                   for a in addresses)
