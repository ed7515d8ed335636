"""`python -m shared.audit`: one command line for support and compliance.

Raw history is read directly (the topics from offset 0, a service's event store); questions to the
live services go through the gateway with a bearer token (`--token` or `ACCOUNTS_TOKEN`).

    replay                       replay the four topics; summary and state hash
    authorizations N --at T      who held which scopes as of T (--gateway: compare with contacts' answer)
    timeline N                   every event of customer N, with actor and basis
    authority EVENT_ID           on whose authority an action was done (or --object m@x.de)
    checks N                     the checks support made for N
    best-knowledge               actions done to best knowledge rather than on a grant
    export N --format csv|json|markdown|all --out DIR
    checkpoint SERVICE           publish a checkpoint of the service's store now
    verify SERVICE               recompute every hash chain and compare with the checkpoints
    rebuild SERVICE [--replace]  rebuild every read model of the service, compare with the live one
                                 (--replace: put the rebuilt rows in place of one that differs)

Log lines go to stderr (warnings only; AUDIT_VERBOSE=1 for more), answers to stdout.
Exit codes: 0 fine, 1 a finding (an altered store, a read model that differs, a disagreement),
2 bad usage or an unreachable dependency.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import orjson
import structlog
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.audit import questions
from shared.audit.checkpoints import CheckpointPublisher, read_checkpoint_log, store_identity
from shared.audit.export import ReplaySource, customer_export, to_csv, to_json, to_markdown
from shared.audit.model import AuditModel
from shared.audit.rebuild import ModelRebuild, rebuild_service
from shared.audit.replay import ReplayReport, TopicReader
from shared.audit.verify import verify_store

app = typer.Typer(
    help="Compliance and support: replay, questions, exports, verification, rebuilds.", no_args_is_help=True
)
console = Console()
T = TypeVar("T")

Kafka = Annotated[
    str,
    typer.Option("--kafka", envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka bootstrap servers"),
]
Topics = Annotated[
    list[str] | None, typer.Option("--topic", help="Topics to replay (default: the four <service>.events)")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the answer as JSON")]
Dsn = Annotated[
    str | None,
    typer.Option("--dsn", help="The service's database (default: <SERVICE>_DATABASE_URL or DATABASE_URL)"),
]
CheckpointTopic = Annotated[str | None, typer.Option("--checkpoint-topic", help="Default: <service>.checkpoints")]
DEFAULT_KAFKA = "127.0.0.1:19092"


def _run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def _print_json(value: Any) -> None:
    console.print_json(orjson.dumps(value, option=orjson.OPT_UTC_Z | orjson.OPT_SORT_KEYS).decode())


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text}: not an RFC 3339 instant (e.g. 2026-03-03T12:00:00+01:00)") from None
    if value.tzinfo is None:
        raise typer.BadParameter(f"{text}: give an offset (e.g. 2026-03-03T12:00:00+01:00)")
    return value


def _known(model: AuditModel, customer: str) -> None:
    """A customer with no events in the replayed history is a mistyped number, not one nobody was
    authorized for: said, and exit 2 (the compliance API's 404)."""
    if not model.history(customer).events:
        console.print(f"[red]no events of customer {customer} in the replayed history[/red]")
        raise typer.Exit(2)


async def _replay(
    kafka: str, topics: list[str] | None, *, quiet: bool = False
) -> tuple[AuditModel, ReplayReport, TopicReader]:
    reader = TopicReader(kafka, topics)
    model = AuditModel()
    with Progress(
        TextColumn("[bold]replay[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task("replay", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = await reader.read_into(model, progress)
    return model, report, reader


def _replay_summary(model: AuditModel, report: ReplayReport, state_hash: str | None) -> None:
    table = Table(title="Replay", show_header=False)
    table.add_row("records read", f"{report.records:,}")
    table.add_row("events in the model", f"{model.event_count:,}")
    table.add_row("customers", f"{len(model.customer_numbers):,}")
    table.add_row("duplicates dropped", f"{model.stats.duplicates:,}")
    table.add_row("conflicting duplicates", str(len(model.stats.conflicting_duplicates)))
    table.add_row("malformed records", str(len(model.stats.malformed)))
    table.add_row("seconds", f"{report.seconds:.2f} ({report.rate:,.0f} records/s)")
    console.print(table)
    types = Table(title="Events by type")
    types.add_column("service")
    types.add_column("type")
    types.add_column("events", justify="right")
    for (service, event_type), n in model.type_counts().items():
        types.add_row(service, event_type, f"{n:,}")
    console.print(types)
    for line in model.stats.malformed[:10]:
        console.print(f"[red]malformed[/red] {line}")
    for event_id in model.stats.conflicting_duplicates[:10]:
        console.print(f"[red]same event id, different content[/red] {event_id}")
    if state_hash is not None:
        console.print(f"state hash {state_hash}", soft_wrap=True)


@app.command()
def replay(kafka: Kafka = DEFAULT_KAFKA, topic: Topics = None, state_hash: bool = True) -> None:
    """Replay the topics from offset 0 into the audit model; print what was read."""
    model, report, _ = _run(_replay(kafka, topic))
    digest = None
    if state_hash:
        with console.status("computing the state hash"):
            digest = model.state_hash()
    _replay_summary(model, report, digest)
    if model.stats.conflicting_duplicates or model.stats.malformed:
        raise typer.Exit(1)


def _holders_table(answer: questions.AuthorizationsAsOf) -> Table:
    table = Table(title=f"Customer {answer.customer_number} as of {answer.at.isoformat()}")
    table.add_column("contact")
    table.add_column("scopes")
    table.add_column("grants (granted by, basis)")
    for h in answer.holders:
        grants = "; ".join(f"{g.grant_id} ({g.granted_by}, {g.basis})" for g in h.grants)
        table.add_row(str(h.contact_id), ", ".join(h.scopes), grants)
    return table


def _comparable(answer: dict[str, Any]) -> Any:
    """An authorizations answer (ours or contacts') reduced to facts that must agree."""
    instruction = answer["official_instruction"]
    return (
        bool(instruction["in_force"]),
        instruction.get("document_reference"),
        sorted(
            (
                str(h["contact_id"]),
                tuple(h["scopes"]),
                tuple(sorted(str(g["grant_id"]) for g in h["grants"])),
            )
            for h in answer["holders"]
        ),
    )


@app.command()
def authorizations(
    customer: str,
    at: Annotated[str | None, typer.Option(help="RFC 3339 instant with offset (default: now)")] = None,
    kafka: Kafka = DEFAULT_KAFKA,
    topic: Topics = None,
    gateway: Annotated[str | None, typer.Option(envvar="ACCOUNTS_GATEWAY", help="e.g. http://127.0.0.1:8080")] = None,
    token: Annotated[str | None, typer.Option(envvar="ACCOUNTS_TOKEN", help="Bearer token for the gateway")] = None,
    as_json: AsJson = False,
) -> None:
    """Who held which scopes for CUSTOMER as of --at; with --gateway, compared with contacts' own answer."""
    instant = _instant(at) or datetime.now(UTC)
    model, _, _ = _run(_replay(kafka, topic, quiet=as_json))
    _known(model, customer)
    answer = questions.authorizations_as_of(model, customer, instant)
    if as_json:
        _print_json(answer)
    else:
        console.print(_holders_table(answer))
        state = answer.official_instruction
        console.print(
            f"official instruction: {'in force (' + str(state.document_reference) + ')' if state.in_force else 'none'}"
        )
    if gateway is None:
        return
    if not token:
        console.print("[red]--token (or ACCOUNTS_TOKEN) is needed to ask through the gateway[/red]")
        raise typer.Exit(2)
    url = f"{gateway.rstrip('/')}/api/contacts/v1/customers/{customer}/authorizations"
    try:
        response = httpx.get(
            url, params={"at": instant.isoformat()}, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
    except httpx.HTTPError as exc:
        console.print(f"[red]the gateway did not answer: {exc}[/red]")
        raise typer.Exit(2) from None
    if response.status_code != 200:
        console.print(f"[red]contacts answered {response.status_code}: {response.text[:300]}[/red]")
        raise typer.Exit(2)
    ours = orjson.loads(orjson.dumps(answer))
    if _comparable(ours) == _comparable(response.json()):
        console.print("[green]contacts (through the gateway) gives the same answer[/green]")
    else:
        console.print("[red]contacts (through the gateway) answers differently:[/red]")
        console.print_json(response.text)
        raise typer.Exit(1)


@app.command()
def timeline(
    customer: str,
    since: Annotated[str | None, typer.Option()] = None,
    until: Annotated[str | None, typer.Option()] = None,
    service: Annotated[list[str] | None, typer.Option()] = None,
    kafka: Kafka = DEFAULT_KAFKA,
    topic: Topics = None,
    as_json: AsJson = False,
) -> None:
    """Every event of CUSTOMER in every service, in order, with actor and basis."""
    model, _, _ = _run(_replay(kafka, topic, quiet=as_json))
    _known(model, customer)
    entries = questions.timeline(model, customer, since=_instant(since), until=_instant(until), services=service or ())
    if as_json:
        _print_json(entries)
        return
    table = Table(title=f"Timeline of customer {customer}")
    for column in ("when", "service", "what", "actor", "basis", "event"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.at.isoformat(), e.service, e.summary, e.actor, e.basis or "", e.event.event_id)
    console.print(table)
    console.print(f"{len(entries)} events")


def _print_authority(a: questions.AuthorityAnswer) -> None:
    console.rule(f"{a.event.event_type} {a.event.event_id}")
    console.print(a.summary)
    console.print(f"[bold]{a.explanation}[/bold]")
    console.print(f"when {a.event.occurred_at.isoformat()}, recorded by {a.event.actor}, read at {a.event.source}")
    verdicts = {True: "[green]agrees[/green]", False: "[red]DISAGREES[/red]", None: "nothing to compare"}
    if a.replayed is not None:
        at = a.replayed.at.isoformat()
        console.print(f"replayed decision as of {at}: {a.replayed.outcome} ({verdicts[a.agrees]})")
    if a.copy_replayed is not None:
        console.print(
            f"replayed on the service's copy as it stood: {a.copy_replayed.outcome} ({verdicts[a.agrees_with_copy]})"
        )
    if a.discrepancy:
        console.print(f"[red]{a.discrepancy}[/red]")
    if a.checks_before:
        for c in a.checks_before:
            console.print(
                f"  checked before: {c.checked_at.isoformat()} by {c.agent}: {c.outcome} ({c.event.event_id})"
            )
    elif a.on_behalf_of:
        console.print("  no check for this requester and scope before acting")


@app.command()
def authority(
    event_id: Annotated[str | None, typer.Argument()] = None,
    object: Annotated[str | None, typer.Option("--object", help="e.g. m@x.de, x.de")] = None,
    customer: Annotated[str | None, typer.Option()] = None,
    kafka: Kafka = DEFAULT_KAFKA,
    topic: Topics = None,
    as_json: AsJson = False,
) -> None:
    """On whose authority an action was done: by EVENT_ID, or every action on --object."""
    if (event_id is None) == (object is None):
        console.print("[red]give an event id or --object, not both[/red]")
        raise typer.Exit(2)
    model, _, _ = _run(_replay(kafka, topic, quiet=as_json))
    if event_id is not None:
        answer = questions.authority_of_event(model, event_id.strip().lower())
        answers = [answer] if answer is not None else []
    else:
        assert object is not None
        answers = questions.authority_of_object(model, object, customer_number=customer)
    if as_json:
        _print_json(answers)
    else:
        for a in answers:
            _print_authority(a)
        console.print(f"{len(answers)} actions")
    if not answers:
        raise typer.Exit(1)


@app.command()
def checks(customer: str, kafka: Kafka = DEFAULT_KAFKA, topic: Topics = None, as_json: AsJson = False) -> None:
    """The authorization checks support made for CUSTOMER."""
    model, _, _ = _run(_replay(kafka, topic, quiet=as_json))
    _known(model, customer)
    found = questions.checks(model, customer)
    if as_json:
        _print_json(found)
        return
    table = Table(title=f"Checks for customer {customer}")
    for column in ("when", "agent", "requester", "action", "outcome", "reasons", "replay agrees", "ticket"):
        table.add_column(column)
    for c in found:
        table.add_row(
            c.checked_at.isoformat(),
            c.agent or "",
            f"{c.requester_kind}:{c.requester}",
            c.action or "",
            c.outcome or "",
            ", ".join(c.reasons),
            "" if c.agrees is None else ("yes" if c.agrees else "[red]NO[/red]"),
            c.ticket_reference or "",
        )
    console.print(table)
    if any(c.agrees is False for c in found):
        raise typer.Exit(1)  # a finding: a recorded answer the history does not give


@app.command("best-knowledge")
def best_knowledge(
    customer: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option()] = None,
    until: Annotated[str | None, typer.Option()] = None,
    kafka: Kafka = DEFAULT_KAFKA,
    topic: Topics = None,
    as_json: AsJson = False,
) -> None:
    """Every action done to best knowledge rather than on a grant."""
    model, _, _ = _run(_replay(kafka, topic, quiet=as_json))
    found = questions.best_knowledge_actions(
        model, customer_number=customer, since=_instant(since), until=_instant(until)
    )
    if as_json:
        _print_json(found)
        return
    for a in found:
        _print_authority(a)
    console.print(f"{len(found)} actions done to best knowledge")


@app.command()
def export(
    customer: str,
    out: Annotated[Path, typer.Option(help="Directory for the files")] = Path("."),
    format: Annotated[str, typer.Option(help="csv, json, markdown or all")] = "all",
    kafka: Kafka = DEFAULT_KAFKA,
    topic: Topics = None,
) -> None:
    """CUSTOMER's history as CSV, JSON and a Markdown report, with provenance."""
    formats = ["csv", "json", "markdown"] if format == "all" else [format]
    if any(f not in ("csv", "json", "markdown") for f in formats):
        raise typer.BadParameter("format: csv, json, markdown or all")
    model, report, reader = _run(_replay(kafka, topic))
    _known(model, customer)
    out.mkdir(parents=True, exist_ok=True)
    with Progress(TextColumn("[bold]export[/bold] {task.description}"), BarColumn(), console=console) as bar:
        task = bar.add_task("state hash", total=len(formats) + 2)
        digest = model.state_hash()
        bar.update(task, advance=1, description="answers")
        source = ReplaySource(list(reader.topics), report.end_offsets, digest)
        result = customer_export(model, customer, datetime.now(UTC), source)
        bar.advance(task)
        written = []
        for f in formats:
            bar.update(task, description=f)
            path = out / f"customer-{customer}-history.{ {'markdown': 'md'}.get(f, f) }"
            if f == "csv":
                path.write_text(to_csv(result))
            elif f == "json":
                path.write_bytes(to_json(result))
            else:
                path.write_text(to_markdown(result))
            written.append(path)
            bar.advance(task)
    console.print(
        f"{len(result.rows)} events, {len(result.actions)} actions, {len(result.checks)} checks of customer {customer}"
    )
    for path in written:
        console.print(f"wrote {path}")


def _dsn_for(service: str, dsn: str | None) -> str:
    """--dsn, else the service's configured database, else its database in the running `make run`."""
    if dsn:
        return dsn
    from shared.infra.stack import running_postgres_server
    from shared.settings import ServiceSettings, database_url_for

    try:
        return ServiceSettings.from_env(service).database_url
    except RuntimeError as exc:
        server = running_postgres_server()
        if server is None:
            console.print(f"[red]{exc} (or give --dsn, or start `make run`)[/red]")
            raise typer.Exit(2) from None
        return database_url_for(service, server)


async def _with_pool(dsn: str, work: Callable[[Any], Awaitable[T]]) -> T:
    from shared import db

    pool = await db.create_pool(dsn, min_size=1, max_size=4)
    try:
        return await work(pool)
    finally:
        await pool.close()


@app.command()
def checkpoint(
    service: str,
    dsn: Dsn = None,
    kafka: Kafka = DEFAULT_KAFKA,
    checkpoint_topic: CheckpointTopic = None,
    force: bool = True,
) -> None:
    """Publish a checkpoint of SERVICE's event store now (to <service>.checkpoints)."""
    from shared.kafka import idempotent_producer

    async def work(pool: Any) -> Any:
        producer = idempotent_producer(kafka, f"{service}-checkpoint-cli")
        await producer.start()
        try:
            publisher = CheckpointPublisher(
                service=service, pool=pool, producer=producer, topic=checkpoint_topic, bootstrap=kafka
            )
            return await publisher.publish(force=force)
        finally:
            await producer.stop()

    published = _run(_with_pool(_dsn_for(service, dsn), work))
    if published is None:
        console.print("nothing changed since the last checkpoint")
    else:
        console.print(
            f"checkpoint #{published.sequence} of {service}: {published.event_count} events in"
            f" {published.stream_count} streams, {len(published.heads)} heads changed, digest {published.digest}"
        )


@app.command()
def verify(
    service: str,
    dsn: Dsn = None,
    kafka: Kafka = DEFAULT_KAFKA,
    checkpoint_topic: CheckpointTopic = None,
    checkpoints: Annotated[bool, typer.Option(help="Compare with the published checkpoints")] = True,
) -> None:
    """Recompute every hash chain of SERVICE's store and compare with its published checkpoints."""

    async def work(pool: Any) -> Any:
        log = None
        if checkpoints:
            async with pool.acquire() as conn:
                store = await store_identity(conn, service, checkpoint_topic)
            log = await read_checkpoint_log(kafka, service, checkpoint_topic, store)
        with Progress(
            TextColumn("[bold]verify[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as bar:
            task = bar.add_task("verify", total=None)
            async with pool.acquire() as conn:
                return await verify_store(
                    conn, service, log, progress=lambda done, total: bar.update(task, completed=done, total=total)
                )

    report = _run(_with_pool(_dsn_for(service, dsn), work))
    style = "green" if report.ok else "red"
    console.print(f"[{style}]{report.summary()}[/{style}]")
    console.print(f"{report.rate:,.0f} events/s")
    if not report.ok:
        raise typer.Exit(1)


def _spec_of(service: str) -> Any:
    try:
        return importlib.import_module(f"services.{service}.service").SPEC
    except ModuleNotFoundError:
        console.print(f"[red]no service {service}[/red]")
        raise typer.Exit(2) from None


@app.command()
def rebuild(
    service: str,
    dsn: Dsn = None,
    kafka: Kafka = DEFAULT_KAFKA,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Put the rebuilt rows in place of a live model that differs (after a projection's fix);"
            " with what its runner or Kafka consumer had applied since; it reads on from there",
        ),
    ] = False,
) -> None:
    """Rebuild every read model of SERVICE from its events; compare each with the live one."""
    spec = _spec_of(service)
    models = [*spec.projections, *spec.kafka_projections]
    table = Table(title=f"Read models of {service}")
    for column in ("model", "built from", "events", "events/s", "equal to live"):
        table.add_column(column)

    async def work(pool: Any) -> list[ModelRebuild]:
        with Progress(
            TextColumn("[bold]rebuild[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(), console=console
        ) as bar:
            task = bar.add_task(service, total=len(models))

            def done(result: ModelRebuild) -> None:
                bar.update(task, advance=1, description=result.projection)

            return await rebuild_service(spec, pool, kafka, replace=replace, on_done=done)

    results = _run(_with_pool(_dsn_for(service, dsn), work))
    for r in results:
        differs = ", ".join(
            f"{d.table}: {d.only_live} only live, {d.only_rebuilt} only rebuilt"
            for d in r.report.diffs
            if d.only_live or d.only_rebuilt
        )
        if r.identical:
            verdict = "[green]yes[/green]"
        elif r.replaced:
            verdict = f"[yellow]no, replaced[/yellow] {differs}"
        else:
            verdict = f"[red]NO[/red] {differs}"
        table.add_row(r.projection, r.source, f"{r.report.events:,}", f"{r.rate:,.0f}", verdict)
    console.print(table)
    if not all(r.identical or r.replaced for r in results):
        raise typer.Exit(1)


def main() -> None:
    # Log lines go to stderr, warnings and worse only: stdout is for answers (--json pipes well).
    level = logging.INFO if os.environ.get("AUDIT_VERBOSE") else logging.WARNING
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    app()
