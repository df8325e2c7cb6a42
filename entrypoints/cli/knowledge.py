"""Knowledge graphs from the command line: enrich one from a request file, show or export
one as it is or was."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from entrypoints.cli.common import JsonFlag, app, console, container, print_json, ready_model
from entrypoints.cli.tables import candidates_table
from handlers import commands as c
from readside.queries import Queries

kg_app = typer.Typer(help="KARMA knowledge-graph enrichment (seed 001).", no_args_is_help=True)
app.add_typer(kg_app, name="kg")


@kg_app.command("enrich")
def enrich(request: Annotated[Path, typer.Argument(help="A request body as JSON (seed 001).")],
           as_json: JsonFlag = False) -> None:
    """Run the Planner, Extractor and Validator over the request's documents and print what
    was accepted and rejected (--json: the API's full response)."""
    from knowledge.enrichment import Enrichment
    from knowledge.requests import EnrichRequest

    with container() as built:
        try:
            body = EnrichRequest.model_validate_json(request.read_bytes())
        except OSError as error:
            raise ValueError(f"cannot read {request}: {error.strerror}") from None
        enrichment = Enrichment(built.service, ready_model(built), body, c.ADMIN)
        enrichment.run()
        response = enrichment.response()
    if as_json:
        print_json(response)
        return
    console.print(f"graph [bold]{response['graph_id']}[/bold], enrichment "
                  f"{response['enrichment_id']} (ledger position {response['position']})")
    console.print(f"plan: {response['plan']['objective']}")
    console.print(candidates_table(response))
    for conflict in response["conflicts"]:
        console.print(f"conflict: kept {conflict['kept']}, superseded {conflict['superseded']}")


@kg_app.command("show")
def show(graph_id: str,
         position: Annotated[int | None, typer.Option(min=1, help="As it was then.")] = None,
         graphml: Annotated[bool, typer.Option("--graphml", help="GraphML, not JSON.")] = False
         ) -> None:
    """A graph's nodes and edges (superseded ones marked), now or at a ledger position."""
    from knowledge.export import to_graphml
    from readside.time_travel import require_position

    with container() as built:
        if position is not None:
            require_position(position, built.projections.head())
        built.projections.catch_up(["knowledge_graph"])
        graph = Queries(built.datastore).graph(graph_id, position)
    if graphml:
        typer.echo(to_graphml(graph))
    else:
        print_json(graph)
