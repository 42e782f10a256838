"""The ``dupeguard`` command line.

Bad input is one clear line on stderr and exit status 2; progress goes to stderr; results go to
the files named (or stdout).
"""

from __future__ import annotations

import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from .core.errors import DupeguardError, InputError, ValidationError

app = typer.Typer(
    name="dupeguard",
    help="Find, prevent and merge duplicate CRM records.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_PROGRESS_ROWS = 50_000


@app.callback()
def _root() -> None:
    """Find, prevent and merge duplicate CRM records."""


class Format(StrEnum):
    csv = "csv"
    json = "json"
    jsonl = "jsonl"


class Engine(StrEnum):
    local = "local"
    spark = "spark"


def _pairs_option(values: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        column, sep, value = item.partition("=")
        if not sep or not column.strip() or not value.strip():
            raise ValidationError(f"{option} takes COLUMN=VALUE, got {item!r}")
        out[column.strip()] = value.strip()
    return out


@app.command()
def scan(
    input: Annotated[
        str,
        typer.Argument(
            help="CSV, Parquet or JSONL file to scan (with --engine spark: any path Spark reads)."
        ),
    ],
    entity: Annotated[str, typer.Option(help="contact, lead, company or deal.")] = "contact",
    threshold: Annotated[float, typer.Option(help="Minimum similarity (0–1).")] = 0.85,
    limit: Annotated[int | None, typer.Option(help="At most N pairs (default: all).")] = None,
    id_column: Annotated[str, typer.Option(help="Column holding record ids.")] = "id",
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="COLUMN=FIELD: feed a column to a field ('ignore' to skip)."),
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="COLUMN=TYPE: compare a column as a custom field of TYPE."),
    ] = None,
    fmt: Annotated[Format | None, typer.Option("--format", help="Output format.")] = None,
    out: Annotated[Path | None, typer.Option(help="Pairs output file (default: stdout).")] = None,
    clusters: Annotated[Path | None, typer.Option(help="Clusters output file.")] = None,
    region: Annotated[str, typer.Option(help="Default phone region (ISO code).")] = "US",
    engine: Annotated[Engine, typer.Option(help="Matching engine.")] = Engine.local,
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL for --engine spark (default local[*]).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary.")] = False,
) -> None:
    """Find likely duplicate pairs and duplicate record sets in a file."""
    from .engine.io import infer_format, read_table, write_table
    from .engine.scan import scan as run_scan
    from .engine.schema import fields_for

    if not 0.0 <= threshold <= 1.0:
        raise ValidationError(f"--threshold must be between 0 and 1, got {threshold}")
    if limit is not None and limit < 1:
        raise ValidationError(f"--limit must be at least 1, got {limit}")
    maps = _pairs_option(map_, "--map")
    types = _pairs_option(field, "--field")
    started = time.perf_counter()
    if engine is Engine.spark:
        _scan_spark(
            input,
            master=spark_master,
            options=dict(
                entity=entity,
                id_column=id_column,
                maps=maps,
                types=types,
                threshold=threshold,
                limit=limit,
                default_region=region.upper(),
            ),
            outputs=(out, clusters, fmt.value if fmt else None),
            quiet=quiet,
            started=started,
        )
        return
    if spark_master is not None:
        raise ValidationError("--spark-master needs --engine spark")
    records = read_table(input, id_column=id_column)
    specs = fields_for(records, entity=entity, id_column=id_column, maps=maps, types=types)
    progress = _Progress(enabled=not quiet and records.height > _PROGRESS_ROWS)
    with progress:
        result = run_scan(
            records,
            specs,
            entity=entity,
            id_column=id_column,
            threshold=threshold,
            limit=limit,
            default_region=region.upper(),
            progress=progress.update,
        )
    pairs_format = infer_format(str(out) if out else None, fmt.value if fmt else None)
    write_table(result.pairs, out, pairs_format)
    if clusters is not None:
        write_table(
            result.clusters, clusters, infer_format(str(clusters), fmt.value if fmt else None)
        )
    if not quiet:
        sets = result.clusters["cluster_id"].n_unique() if result.clusters.height else 0
        typer.echo(
            f"Scanned {result.records:,} records: {result.candidate_pairs:,} candidate pairs, "
            f"{result.matched_pairs:,} duplicate pairs in {sets:,} sets "
            f"({time.perf_counter() - started:.1f} s).",
            err=True,
        )


def _scan_spark(
    input: str,
    *,
    master: str | None,
    options: dict[str, Any],
    outputs: tuple[Path | None, Path | None, str | None],
    quiet: bool,
    started: float,
) -> None:
    """``scan --engine spark``: the same outputs, computed by Spark (docs/SPARK.md)."""
    from .engine.io import infer_format
    from .engine.spark_io import (
        check_local_input,
        require_pyspark,
        spark_errors,
        start_session,
        write_result,
    )

    require_pyspark()
    check_local_input(input)
    from .engine.spark import scan_path

    out, clusters, fmt = outputs
    pairs_format = infer_format(str(out) if out else None, fmt)
    clusters_format = infer_format(str(clusters), fmt) if clusters is not None else "csv"
    if master is None and not os.environ.get("PYSPARK_GATEWAY_PORT"):
        master = "local[*]"  # under spark-submit the master comes from spark-submit
    progress = _Progress(enabled=not quiet)
    spark = start_session(master)
    try:
        with progress:
            result = scan_path(spark, input, progress=progress.update, **options)
        with spark_errors(input):
            write_result(result.pairs, out, pairs_format)
            if clusters is not None:
                write_result(result.clusters, clusters, clusters_format)
            sets = result.clusters.select("cluster_id").distinct().count() if not quiet else 0
        result.unpersist()
    finally:
        spark.stop()
    if not quiet:
        typer.echo(
            f"Scanned {result.records:,} records: {result.candidate_pairs:,} candidate pairs, "
            f"{result.matched_pairs:,} duplicate pairs in {sets:,} sets "
            f"({time.perf_counter() - started:.1f} s).",
            err=True,
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port).")
    ] = 8000,
) -> None:
    """Run the API (docs at /docs); migrates the database (DUPEGUARD_DATABASE_URL) first."""
    import gc
    import socket

    import uvicorn

    from .api.app import create_app

    application = create_app()
    # what start-up made (modules, the app, its caches) lives as long as the process: moved out
    # of the collector's reach, a full garbage collection during a request walks only what
    # requests made (the import-time heap is most of the objects; see docs/OPERATIONS.md)
    gc.collect()
    gc.freeze()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on connections of such a socket; without
    # it every keep-alive response waits ~40 ms for a delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValidationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound = sock.getsockname()[1]
    url = f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{bound}"
    typer.echo(f"dupeguard: serving {url} (API docs: {url}/docs)")
    config = uvicorn.Config(application, host=host, port=bound, server_header=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces (tenants).", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
user_app = typer.Typer(help="Web UI users.", no_args_is_help=True)
webhook_app = typer.Typer(help="Webhooks.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(workspace_app, name="workspace")
app.add_typer(key_app, name="key")
app.add_typer(webhook_app, name="webhook")


def _database() -> Any:
    """A session factory for the configured database, migrated to the latest schema (and the
    encryption key of encrypted fields configured)."""
    from .services import crypto
    from .services.setup import prepare
    from .settings import get_settings
    from .store.session import make_engine

    settings = get_settings()
    crypto.configure(settings.encryption_key)
    return prepare(make_engine(settings.database_url), region=settings.default_region)


def _emit(payload: dict[str, Any]) -> None:
    import json

    typer.echo(json.dumps(payload, indent=2, default=str))


@app.command("encryption-key")
def encryption_key() -> None:
    """Print a new key for encrypted fields: set it as DUPEGUARD_ENCRYPTION_KEY (to rotate,
    put the new key first: DUPEGUARD_ENCRYPTION_KEY=new,old)."""
    from .services.crypto import new_key

    typer.echo(new_key())


@app.command("import")
def import_csv(
    path: Annotated[Path, typer.Argument(help="CSV file to import.", show_default=False)],
    workspace: Annotated[str, typer.Option(help="Workspace id.")],
    entity: Annotated[str, typer.Option(help="Entity the rows become.")] = "lead",
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="COLUMN=FIELD (or COLUMN=ignore); repeatable."),
    ] = None,
    dedup_mode: Annotated[
        str, typer.Option(help="What a match-key hit does: skip, update or off.")
    ] = "skip",
    preview: Annotated[
        bool, typer.Option("--preview", help="Only count what would happen; write nothing.")
    ] = False,
    report: Annotated[Path | None, typer.Option(help="Write the per-row report CSV here.")] = None,
) -> None:
    """Import a CSV through intake, like the API's import (the same service); prints JSON
    with the import id, the status and the counts."""
    from .services import imports
    from .settings import get_settings
    from .store.session import session_scope

    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from None
    sessions = _database()
    region = get_settings().default_region
    with session_scope(sessions) as session:
        item = imports.upload(
            session=session,
            workspace_id=workspace,
            entity=entity,
            filename=path.name,
            content=content,
        )
        import_id, mapping = item.id, dict(item.mapping)
    overrides = _pairs_option(map_, "--map")
    unknown = [c for c in overrides if c not in item.columns]
    if unknown:
        raise ValidationError(f"--map names a column that is not in the file: {unknown[0]!r}")
    for column, target in overrides.items():
        mapping[column] = None if target.lower() in ("ignore", "-") else target  # type: ignore[assignment]
    with session_scope(sessions) as session:
        imports.set_mapping(
            session=session,
            workspace_id=workspace,
            import_id=import_id,
            mapping=mapping,
            dedup_mode=dedup_mode,
        )
    if preview:
        result = imports.preview(
            sessions=sessions, workspace_id=workspace, import_id=import_id, region=region, limit=1
        )
        _emit({"import_id": import_id, "status": "previewed", "counts": result.counts})
        return
    with session_scope(sessions) as session:
        imports.start(session=session, workspace_id=workspace, import_id=import_id)
    status = imports.run(sessions, import_id, region=region, actor="cli")
    with session_scope(sessions) as session:
        counts = imports.counted(session=session, import_id=import_id)
    if report is not None:
        with report.open("w", encoding="utf-8", newline="") as out:
            out.writelines(imports.report_lines(sessions, import_id))
    _emit({"import_id": import_id, "status": status, "counts": counts, "mapping": mapping})


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database (DUPEGUARD_DATABASE_URL) to the latest schema."""
    from .settings import get_settings
    from .store.session import make_engine

    url = get_settings().database_url
    _database()
    typer.echo(f"database at the latest schema: {make_engine(url).url.render_as_string()}")


@db_app.command("backup")
def db_backup(
    target: Annotated[Path, typer.Argument(help="File to write the backup to.")],
) -> None:
    """Back up the database while the server runs: SQLite with its online backup API (a
    consistent copy, never a half-written file), PostgreSQL with pg_dump (custom format)."""
    from .settings import get_settings
    from .store.backup import backup

    done = backup(get_settings().database_url, target)
    typer.echo(f"backed up to {done}")


@db_app.command("restore")
def db_restore(
    source: Annotated[Path, typer.Argument(help="A file `dupeguard db backup` wrote.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database that already holds data.")
    ] = False,
) -> None:
    """Restore a backup into the configured database (stop the servers first); refuses to
    overwrite a database with data unless --force."""
    from .settings import get_settings
    from .store.backup import restore

    restore(get_settings().database_url, source, force=force)
    typer.echo(f"restored from {source}; run `dupeguard db upgrade` if it is an older release's")


@workspace_app.command("create")
def workspace_create(
    name: Annotated[str, typer.Argument(help="Workspace name.")],
    credits: Annotated[int, typer.Option(help="Opening credit balance.")] = 0,
) -> None:
    """Create a workspace and an admin API key; prints JSON with workspace_id and api_key."""
    from .services.keys import create_key
    from .services.workspaces import create_workspace
    from .store.session import session_scope

    with session_scope(_database()) as session:
        workspace = create_workspace(session=session, name=name, credits=credits)
        key, plaintext = create_key(
            session=session,
            workspace_id=workspace.id,
            scopes=["read", "write", "write:ai", "admin"],
            name="created with the workspace",
        )
        _emit(
            {
                "workspace_id": workspace.id,
                "name": workspace.name,
                "credits": workspace.credits,
                "api_key": plaintext,
                "key_id": key.id,
                "scopes": key.scopes,
            }
        )


@key_app.command("create")
def key_create(
    workspace: Annotated[str, typer.Option(help="Workspace id.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: read,write,write:ai,admin.")],
    expires: Annotated[
        str | None, typer.Option(help="Expiry: an ISO 8601 date or time, or 30d / 12h.")
    ] = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
) -> None:
    """Create an API key; prints JSON with workspace_id and api_key (shown only once)."""
    from .services.keys import create_key
    from .store.session import session_scope

    with session_scope(_database()) as session:
        key, plaintext = create_key(
            session=session,
            workspace_id=workspace,
            scopes=scopes,
            expires_at=_parse_expiry(expires),
            name=name,
        )
        _emit(
            {
                "workspace_id": key.workspace_id,
                "api_key": plaintext,
                "key_id": key.id,
                "scopes": key.scopes,
                "expires_at": key.expires_at.isoformat() if key.expires_at else None,
            }
        )


@key_app.command("revoke")
def key_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (from key create).")],
    workspace: Annotated[str, typer.Option(help="Workspace id.")],
) -> None:
    """Revoke an API key at once."""
    from .services.keys import revoke_key
    from .store.session import session_scope

    with session_scope(_database()) as session:
        key = revoke_key(session=session, workspace_id=workspace, key_id=key_id)
        _emit({"key_id": key.id, "revoked_at": key.revoked_at})


@user_app.command("create")
def user_create(
    workspace: Annotated[str, typer.Option(help="Workspace id.")],
    email: Annotated[str, typer.Option(help="Sign-in e-mail (unique in the workspace).")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="At least 10 characters (asked for when not given).",
        ),
    ],
    role: Annotated[str, typer.Option(help="admin or member.")] = "member",
) -> None:
    """Create a web UI user; prints JSON with user_id, email and role (never the password)."""
    from .services.users import create_user
    from .store.session import session_scope

    with session_scope(_database()) as session:
        user = create_user(
            session=session, workspace_id=workspace, email=email, password=password, role=role
        )
        _emit(
            {
                "user_id": user.id,
                "workspace_id": user.workspace_id,
                "email": user.email,
                "role": user.role,
            }
        )


@webhook_app.command("seal-secrets")
def webhook_seal_secrets() -> None:
    """Encrypt every webhook signing secret with DUPEGUARD_ENCRYPTION_KEY (plaintext ones, and
    ones sealed with an older key after a rotation); safe to run again. Prints JSON counts."""
    from .services.webhooks import seal_secrets
    from .settings import get_settings
    from .store.session import begin_write, session_scope

    if not get_settings().encryption_key:
        raise ValidationError(
            "set DUPEGUARD_ENCRYPTION_KEY first (make one with `dupeguard encryption-key`)"
        )
    sessions = _database()
    with session_scope(sessions) as session:
        begin_write(session)  # SQLite: the write lock before the first read
        report = seal_secrets(session=session)
    _emit({"sealed": report.sealed, "resealed": report.resealed, "unchanged": report.unchanged})


def _parse_expiry(value: str | None) -> Any:
    import re
    from datetime import UTC, datetime, timedelta

    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([dh])\s*", value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = timedelta(days=amount) if unit == "d" else timedelta(hours=amount)
        return datetime.now(UTC) + delta
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(
            f"--expires takes an ISO 8601 date or time, or a duration like 30d, got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Progress:
    """Progress on stderr for large inputs: a bar on a terminal, one line per stage otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None
        self._stage = ""
        self._tty = sys.stderr.isatty()

    def __enter__(self) -> _Progress:
        if self.enabled and self._tty:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("reading", total=None)
        return self

    def update(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            label = f"{stage} {done:,}/{total:,} pairs" if total else stage
            # no total: an indeterminate (pulsing) bar
            self._bar.update(self._task, completed=done, total=total or None, description=label)
        elif stage != self._stage and stage != "done":
            print(f"dupeguard: {stage}…", file=sys.stderr, flush=True)
        self._stage = stage

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def main() -> None:
    """Entry point: every known error is one line on stderr and exit status 2."""
    try:
        app(standalone_mode=False)
    except DupeguardError as exc:
        prefix = "" if isinstance(exc, InputError) else "error: "
        print(f"dupeguard: {prefix}{exc.message}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("dupeguard: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except _database_errors() as exc:
        print(f"dupeguard: error: {_database_message(exc)}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors, and anything unforeseen
        if isinstance(exc, typer.TyperException) and hasattr(exc, "format_message"):
            # a usage error (unknown option, bad value): click's message, on one line
            print(f"dupeguard: error: {exc.format_message()}", file=sys.stderr)
            sys.exit(int(getattr(exc, "exit_code", 2)))
        if os.environ.get("DUPEGUARD_DEBUG"):
            raise
        print(
            f"dupeguard: internal error: {type(exc).__name__}: {exc} "
            "(set DUPEGUARD_DEBUG=1 for details, and please report it)",
            file=sys.stderr,
        )
        sys.exit(1)


def _database_errors() -> tuple[type[BaseException], ...]:
    from pydantic import ValidationError as SettingsError
    from sqlalchemy.exc import OperationalError

    return (OperationalError, SettingsError)


def _database_message(exc: BaseException) -> str:
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OperationalError):
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        return f"cannot use the database: {first}"
    errors: list[dict[str, Any]] = getattr(exc, "errors", lambda: [])()
    if errors:
        where = ".".join(str(p) for p in errors[0].get("loc", ()))
        return f"bad setting DUPEGUARD_{where.upper()}: {errors[0].get('msg', '')}"
    return str(exc).splitlines()[0]


if __name__ == "__main__":
    main()
