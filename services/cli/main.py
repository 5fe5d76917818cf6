"""`complaints`: the operations command (audits, rebuilds, tamper checks, dossiers, reports, operator tools).

    complaints history SH01-20261125-0001 [--as-of 2026-11-25T12:00:00+08:00] [--json]
    complaints replay hq --from-beginning          # rebuild into fresh tables, check, swap in
    complaints check analytics                     # rebuild aside and compare, row by row
    complaints verify                              # every store's hash chain
    complaints export SH01-20261125-0001 --format pdf --out dossier.pdf
    complaints report 2026-11 --out reports/
    complaints republish --service intake --from-position 1
    complaints redrive --service billing [--event-type X] [--complaint ID] [--dry-run]
    complaints tokens --user clerk-li --role branch_clerk --branch SH01
    complaints topics apply [--watch 30]           # provision the topics (replication, retention)
    complaints topics check                        # what is missing or differs
    complaints acls apply [--prune]                # each principal's least-privilege ACLs

Each command reads the same environment as the services (`<SERVICE>_DATABASE_URL`,
`KAFKA_BOOTSTRAP_SERVERS` and the other `KAFKA_*`, `COMPLAINTS_DATA_DIR`, ...). Output is a table on a terminal and JSON
when piped (or with --json). Errors are one line on stderr and exit code 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from typing import Annotated, Any

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from contracts.envelope import ServiceName
from services.common.readmodel import ReadModelStore
from services.common.settings import BusSettings, ServiceSettings

app = typer.Typer(name="complaints", help=__doc__, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="JSON output (the default when not on a terminal)")]


def _json_wanted(flag: bool) -> bool:
    return flag or not sys.stdout.isatty()


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable_python(data, fallback=str), ensure_ascii=False, indent=2) + "\n")


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=1)


# --- read models --------------------------------------------------------------------------------

class Model(StrEnum):
    HQ = "hq"
    ANALYTICS = "analytics"


@dataclass(frozen=True)
class ReadModel:
    """What a rebuild needs of one read model: its store, its projector, its consumer's name."""

    name: str
    settings: Callable[[], ServiceSettings]
    open: Callable[[Any, str], ReadModelStore]
    projector: Callable[[Any], Any]


def read_model(model: Model) -> ReadModel:
    if model is Model.HQ:
        from services.hq.bootstrap import open_store
        from services.hq.policies import projector
        from services.hq.settings import HqSettings
        return ReadModel("hq", HqSettings, open_store, lambda _: projector())
    from services.analytics import bootstrap
    from services.analytics.settings import AnalyticsSettings
    return ReadModel(bootstrap.READ_MODEL, AnalyticsSettings, bootstrap.open_store, bootstrap.projector)


def _progress(label: str) -> tuple[Progress, Callable[[int, int], None]]:
    progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]:,.0f} events/s"), TimeElapsedColumn(), console=err,
                        transient=False, disable=not err.is_terminal)
    task = progress.add_task(label, total=None, rate=0.0)
    started = datetime.now()

    def update(done: int, total: int) -> None:
        seconds = max((datetime.now() - started).total_seconds(), 1e-6)
        progress.update(task, completed=done, total=total, rate=done / seconds)
    return progress, update


@app.command()
def replay(model: Annotated[Model, typer.Argument(help="The read model: hq or analytics")],
           from_beginning: Annotated[bool, typer.Option(
               "--from-beginning", help="Rebuild from the first event into fresh tables, compare, swap them in")] = False,
           swap: Annotated[bool, typer.Option(help="With --from-beginning: swap the rebuilt tables in")] = True,
           as_json: JsonOption = False) -> None:
    """Rebuild a read model from the topics (--from-beginning), or bring it up to the topics' ends from
    the positions it holds (when its service is not running)."""
    from services.common import replay as rp
    spec = read_model(model)
    settings = spec.settings()
    bootstrap = BusSettings().bus()
    live = spec.open(settings, "")
    progress, update = _progress(f"replay {model.value}")
    try:
        with progress:
            if not from_beginning:
                report = asyncio.run(rp.project(live, spec.projector(settings), list(ServiceName), bootstrap,
                                                spec.name, update))
                result: dict[str, Any] = {"model": model.value, "mode": "caught up", **_report(report)}
            else:
                rebuilt, report = asyncio.run(rp.rebuild(live, spec.projector(settings), list(ServiceName),
                                                         bootstrap, spec.name, update))
                caught = asyncio.run(rp.catch_up(rebuilt, live, spec.projector(settings), list(ServiceName),
                                                 bootstrap, spec.name, report))
                differences = rp.compare(live, rebuilt) if caught else []
                result = {"model": model.value, "mode": "rebuilt", **_report(report),
                          "compared": caught, "differences": [d.describe() for d in differences]}
                if swap:
                    rebuilt.swap_into(live)
                    result["swapped"] = True
    finally:
        live.close()
    _show(result, as_json)
    if result.get("gaps"):
        raise fail(f"{len(result['gaps'])} partition(s) have gaps: {result['gaps'][0]}")


@app.command()
def check(model: Annotated[Model, typer.Argument(help="The read model: hq or analytics")],
          as_json: JsonOption = False) -> None:
    """Rebuild the read model aside from the topics and compare it with the live one, row by row
    (exit 1 when they differ). The live model is not changed."""
    from services.common import replay as rp
    spec = read_model(model)
    settings = spec.settings()
    bootstrap = BusSettings().bus()
    live = spec.open(settings, "")
    progress, update = _progress(f"check {model.value}")
    try:
        with progress:
            rebuilt, report = asyncio.run(rp.rebuild(live, spec.projector(settings), list(ServiceName),
                                                     bootstrap, spec.name, update))
            caught = asyncio.run(rp.catch_up(rebuilt, live, spec.projector(settings), list(ServiceName),
                                             bootstrap, spec.name, report))
            differences = rp.compare(live, rebuilt)
        rebuilt.drop()
    finally:
        live.close()
    _show({"model": model.value, **_report(report), "same_positions": caught,
           "differences": [d.describe() for d in differences]}, as_json)
    if differences or not caught:
        raise fail(f"{model.value}: the rebuilt model differs from the live one ({len(differences)} difference(s))"
                   if differences else f"{model.value}: the live model kept moving; try again when it is quiet")


def _report(report: Any) -> dict[str, Any]:
    return {"events": report.events, "processed": report.processed, "duplicates": report.duplicates,
            "refused": report.refused, "seconds": round(report.seconds, 2), "events_per_second": round(report.rate),
            "gaps": report.gaps}


def _show(result: dict[str, Any], as_json: bool) -> None:
    if _json_wanted(as_json):
        _print_json(result)
        return
    table = Table(show_header=False)
    for key, value in result.items():
        table.add_row(key, "\n".join(value) if isinstance(value, list) else str(value))
    out.print(table)


# --- history ---------------------------------------------------------------------------------------

def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--as-of {text!r}: give an ISO time with its offset, e.g. 2026-11-25T12:00:00+08:00") from None
    if value.tzinfo is None:
        raise fail(f"--as-of {text!r}: give the time with its offset (+08:00, Z)")
    return value


@app.command()
def history(ref: Annotated[str, typer.Argument(help="The complaint's form number or id")],
            as_of: Annotated[str | None, typer.Option("--as-of", help="Show the complaint in every service as "
                                                      "it stood at this moment, rebuilt from its events")] = None,
            as_json: JsonOption = False) -> None:
    """The merged life of a complaint across every service's store, in causal order; with --as-of, its
    state in every service at that moment."""
    from services.cli import stores
    try:
        complaint_id = stores.find_complaint(ref)
    except LookupError as e:
        raise fail(str(e)) from None
    if as_of is not None:
        states = stores.state_as_of(complaint_id, _parse_time(as_of))
        if _json_wanted(as_json):
            _print_json({"complaint_id": str(complaint_id), "as_of": as_of, "services": states})
            return
        for service, aggregates in states.items():
            for a in aggregates:
                out.print(f"[bold]{service}[/bold] {a['aggregate']} {a['aggregate_id']} v{a['version']}")
                out.print_json(json.dumps(a["state"], ensure_ascii=False, default=str))
        return
    events = [e.record() for e in stores.merged_history(complaint_id)]
    if not events:
        raise fail(f"no events for complaint {ref}")
    if _json_wanted(as_json):
        _print_json({"complaint_id": str(complaint_id), "events": events})
        return
    table = Table("time", "service", "event", "actor", "aggregate", title=f"complaint {ref}")
    for e in events:
        actor = (e.get("meta") or {}).get("actor") or {}
        table.add_row(e["occurred_at"], e["service"], e["published_as"] or e["event_type"],
                      f"{actor.get('user_id', '')} ({actor.get('role', '')})", f"{e['aggregate']} v{e['version']}")
    out.print(table)


# --- tamper evidence ------------------------------------------------------------------------------------

@app.command()
def verify(service: Annotated[list[ServiceName] | None, typer.Option(
               "--service", help="Only this service's store (repeatable); default: every service")] = None,
           as_json: JsonOption = False) -> None:
    """Check every service's store against its hash chain: each stored event must match the hash that
    commits to it and to the one before it. Names the first broken link (exit 1), or each store's head."""
    from services.cli import stores
    from services.common.chain import verify as verify_chain
    results = []
    for name in service or list(ServiceName):
        app_ = stores.open_app(name)
        try:
            report = verify_chain(app_)
        finally:
            app_.close()
        broken = report.first_break
        results.append({"service": name.value, "ok": report.ok, "checked": report.checked, "head_id": report.head_id,
                        "head_hash": report.head_hash,
                        "break": None if broken is None else {"kind": broken.kind.value,
                                                              "notification_id": broken.notification_id,
                                                              "message": broken.message}})
    if _json_wanted(as_json):
        _print_json(results)
    else:
        table = Table("store", "events checked", "head", "first broken link")
        for r in results:
            table.add_row(r["service"], str(r["checked"]), f"{r['head_id']} {r['head_hash'][:16]}…",
                          "[green]none[/green]" if r["ok"] else f"[red]{r['break']['message']}[/red]")
        out.print(table)
    bad = [r for r in results if not r["ok"]]
    if bad:
        raise fail("; ".join(f"{r['service']}: {r['break']['message']}" for r in bad))


# --- the archive dossier and the monthly report --------------------------------------------------------

class Format(StrEnum):
    JSON = "json"
    PDF = "pdf"


class Language(StrEnum):
    ZH = "zh"
    EN = "en"


@app.command()
def export(ref: Annotated[str, typer.Argument(help="The complaint's form number or id")],
           format: Annotated[Format, typer.Option("--format", help="json or pdf")] = Format.JSON,  # noqa: A002
           out: Annotated[Path | None, typer.Option(help="The file to write (default: <form number>.<format>)")] = None,
           language: Annotated[Language, typer.Option(help="zh or en (pdf)")] = Language.ZH) -> None:
    """The archive dossier of §5.8 (registration form, memos, approvals, determination, evidence hashes,
    adjudication, ledger, notifications, follow-up, closure) from every service's store."""
    from services.cli import dossier, stores
    try:
        complaint_id = stores.find_complaint(ref)
    except LookupError as e:
        raise fail(str(e)) from None
    events = [e.record() for e in stores.merged_history(complaint_id)]
    if not events:
        raise fail(f"no events for complaint {ref}")
    built = dossier.build_dossier(events)
    target = out or Path(f"{events[0]['meta']['form_number']}.{format.value}")
    if format is Format.JSON:
        dossier.write_json(built, target)
    else:
        dossier.write_pdf(built, target, language=language.value)
    err.print(f"wrote {target} ({len(events)} events)")


@app.command()
def report(month: Annotated[str, typer.Argument(help="The month, YYYY-MM (company time)")],
           out: Annotated[Path, typer.Option(help="The folder to write the report into")] = Path("reports"),
           language: Annotated[Language, typer.Option(help="zh or en")] = Language.ZH) -> None:
    """The monthly report (§5.3.1⑴) from analytics' read model: HTML with charts, plus CSV and XLSX of
    the same figures."""
    from services.analytics.bootstrap import open_store
    from services.analytics.figures import Figures
    from services.analytics.report import write_report
    from services.analytics.settings import AnalyticsSettings
    from services.common.calendar import load_calendar
    from services.common.domain import InvalidCommand
    settings = AnalyticsSettings()
    store = open_store(settings)
    try:
        figures = Figures(store, load_calendar(settings.calendar_file).default().zone).monthly(month)
    except InvalidCommand as e:
        raise fail(str(e)) from None
    finally:
        store.close()
    files = write_report(figures, out, language=language.value)
    for path in (files.html, files.csv, files.xlsx):
        err.print(f"wrote {path}")


# --- provisioning the bus ------------------------------------------------------------------------------

topics_app = typer.Typer(help="The topics: created with their replication and retention, checked.",
                         no_args_is_help=True)
acls_app = typer.Typer(help="Each principal's least-privilege ACLs.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(acls_app, name="acls")


def _provision_settings() -> Any:
    from pydantic import ValidationError

    from services.common.provision import ProvisionSettings
    try:
        return ProvisionSettings()
    except ValidationError as e:
        first = e.errors()[0]
        raise fail(f"{first.get('loc', ('?',))[0]}: {first['msg']}") from None


@topics_app.command("apply")
def topics_apply(watch: Annotated[float, typer.Option(
        help="Keep reconciling every this many seconds (a topic operator's loop); 0: once")] = 0.0) -> None:
    """Create every topic of contracts/topics.py that is missing (partitions from the contract, replication
    from KAFKA_TOPIC_REPLICATION_FACTOR, min.insync.replicas, retention by kind), set the retention of those
    that exist, and report a partition count or replication factor that differs (exit 1)."""
    from services.common import provision as pv
    settings = _provision_settings()
    bus = settings.bus()
    if watch > 0:
        try:
            asyncio.run(pv.watch(bus, settings, watch, report=lambda line: err.print(line, highlight=False)))
        except KeyboardInterrupt:
            return
    try:
        report = asyncio.run(pv.apply_topics(bus, pv.plan_topics(settings)))
    except Exception as e:  # noqa: BLE001 - one line, not a traceback
        raise fail(f"provisioning on {bus.describe()} failed: {type(e).__name__}: {e}") from None
    for line in report.lines():
        out.print(line, highlight=False)
    if report.problems:
        raise typer.Exit(code=1)


@topics_app.command("check")
def topics_check() -> None:
    """Say which topics are missing or have another partition count than the contract (exit 1 if any)."""
    from contracts.topics import all_topics
    from services.common import provision as pv
    bus = _provision_settings().bus()
    try:
        problems = asyncio.run(pv.missing_topics(bus, all_topics()))
    except Exception as e:  # noqa: BLE001
        raise fail(f"checking {bus.describe()} failed: {type(e).__name__}: {e}") from None
    for problem in problems:
        out.print(problem, highlight=False)
    if problems:
        raise typer.Exit(code=1)
    out.print(f"all {len(all_topics())} topics are there with {pv.PARTITIONS} partitions", highlight=False)


@acls_app.command("apply")
def acls_apply(prune: Annotated[bool, typer.Option(
        help="Also revoke the managed principals' ACLs that the plan no longer has")] = False,
               dry_run: Annotated[bool, typer.Option("--dry-run", help="List the planned ACLs, change nothing")]
               = False) -> None:
    """Grant each principal exactly what contracts/topics.py says it needs: a service writes its events topic
    and its own dead-letter topic and reads its upstreams in its own consumer group; branch systems
    (KAFKA_BRANCH_PRINCIPALS) write commands and read results; subscribers (KAFKA_SUBSCRIBER_PRINCIPALS) read
    events; operators (KAFKA_OPERATOR_PRINCIPALS) read every topic. Run as a principal that may alter ACLs."""
    from services.common import provision as pv
    settings = _provision_settings()
    if dry_run:
        for acl in pv.plan_acls(settings):
            out.print(acl.describe(), highlight=False)
        return
    bus = settings.bus()
    try:
        report = asyncio.run(pv.apply_acls(bus, settings, prune=prune))
    except Exception as e:  # noqa: BLE001
        raise fail(f"applying ACLs on {bus.describe()} failed: {type(e).__name__}: {e}") from None
    for line in report.lines():
        out.print(line, highlight=False)


# --- the operator commands, as subcommands -----------------------------------------------------------

@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def republish(ctx: typer.Context) -> None:
    """Republish a service's event log from a position (see --help)."""
    from services.common.republish import main as run
    raise typer.Exit(code=run(ctx.args))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def redrive(ctx: typer.Context) -> None:
    """Redrive a service's dead letters into processing, once their cause is fixed (see --help)."""
    from services.common.redrive import main as run
    raise typer.Exit(code=run(ctx.args))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def tokens(ctx: typer.Context) -> None:
    """Mint a token signed with the local key of the embedded default (see --help)."""
    from services.common.tokens import main as run
    raise typer.Exit(code=run(ctx.args))


def main() -> None:
    app()



