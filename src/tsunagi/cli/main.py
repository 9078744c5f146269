"""``tsunagi`` — the command line.

Every command reads settings from ``TSUNAGI_*`` variables and ``--config FILE``
(TOML); a problem is reported as one line naming it, with exit code 2.
"""

from __future__ import annotations

import asyncio
import getpass
import importlib
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from tsunagi import __version__
from tsunagi.domain.errors import TsunagiError
from tsunagi.settings import ConfigurationError, Settings, load_settings

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except TsunagiError as exc:
        raise click.ClickException(str(exc)) from exc


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    try:
        settings = load_settings(
            ctx.obj.get("config"), **{k: v for k, v in overrides.items() if v is not None}
        )
        settings.check_production()
    except ConfigurationError as exc:
        raise click.UsageError(str(exc)) from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(f"invalid settings: {problems}") from exc
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tsunagi")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML settings file (environment variables override it).",
)
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """Tsunagi: an open-source contact-center platform."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@cli.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8000).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int) -> None:
    """Serve the web app and API (run `tsunagi db upgrade` first)."""
    settings = _settings(ctx, host=host, port=port)
    _serve(settings, workers=workers)


def serving_settings(settings: Settings) -> Settings:
    """The settings a served app runs with: the figures projector in a child process,
    on another core than the requests (decision 0012), unless configured otherwise or
    the database is in this process's memory (another process could not see it)."""
    from tsunagi.adapters.storage.db import is_in_memory

    if "figures_projector" in settings.model_fields_set or is_in_memory(
        settings.effective_database_url
    ):
        return settings
    return settings.model_copy(update={"figures_projector": "child"})


def _serve(settings: Settings, *, workers: int = 1, background: Any = ()) -> None:
    import uvicorn

    from tsunagi.web.app import create_app

    if workers > 1:
        raise click.UsageError(
            "use a process manager for several workers; --workers >1 is not supported yet"
        )
    uvicorn.run(
        create_app(serving_settings(settings), background=background),
        host=settings.host,
        port=settings.port,
        log_level="info",
        ws="websockets-sansio",
        # Chat frames are a few hundred bytes: compressing them costs CPU and a zlib
        # context per socket (see benchmarks/chat/RESULTS.md).
        ws_per_message_deflate=False,
    )


@cli.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8000).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the embedded database lives.",
)
@click.option("--customers", type=click.IntRange(0, 1_000_000), default=10_000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Load the demo center and exit.")
@click.pass_context
def demo(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    customers: int,
    no_serve: bool,
) -> None:
    """Create a demo center on a fresh embedded database and serve it."""
    from tsunagi.demo.seed import live_floor, load_demo

    settings = _settings(ctx, host=host, port=port, data_dir=data_dir)
    if not settings.is_sqlite:
        raise click.UsageError("the demo runs on the embedded database; unset TSUNAGI_DATABASE_URL")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    accounts = _run(load_demo(settings, customers=customers))
    click.echo(f"Demo center ready at http://{settings.host}:{settings.port}/")
    click.echo("Demo accounts (password for all: " + accounts.password + "):")
    for role, usernames in accounts.by_role.items():
        shown = ", ".join(usernames[:3]) + (
            f" … ({len(usernames)} in all)" if len(usernames) > 3 else ""
        )
        click.echo(f"  {role:<14} {shown}")
    click.echo(
        "The floor is simulated; op01, op02 and op03 are left for you: sign in as one of them "
        "to take real offers, and as sv1 to watch the wallboard."
    )
    if accounts.chat_widget:
        click.echo(
            "Chat as a customer: http://"
            f"{settings.host}:{settings.port}/widget/{accounts.chat_widget}/try"
        )
    if not no_serve:
        _serve(settings, background=[live_floor])


@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the database to REVISION (creates the embedded file if needed)."""
    from tsunagi.adapters.storage.migrate import upgrade

    settings = _settings(ctx)
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    _run(upgrade(settings.effective_database_url, revision))
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.option("--revision", required=True, help="Target revision ('base' drops everything).")
@click.pass_context
def db_downgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the database down to REVISION."""
    from tsunagi.adapters.storage.migrate import downgrade

    _run(downgrade(_settings(ctx).effective_database_url, revision))
    click.echo(f"database at {revision}")


@cli.group()
def user() -> None:
    """User accounts."""


@user.command("create")
@click.option(
    "--tenant", "tenant_slug", required=True, help="Tenant slug (see `tsunagi tenant create`)."
)
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True, help="Display name.")
@click.option("--role", "roles", multiple=True, required=True, help="Role; repeat for several.")
@click.option("--locale", type=click.Choice(["ja", "en"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def user_create(
    ctx: click.Context,
    tenant_slug: str,
    username: str,
    display_name: str,
    roles: tuple[str, ...],
    locale: str | None,
    password_stdin: bool,
) -> None:
    """Create a user in a tenant."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass()
    settings = _settings(ctx)
    user_id = _run(
        _create_user(settings, tenant_slug, username, display_name, list(roles), locale, password)
    )
    click.echo(f"created user {username} ({user_id})")


async def _create_user(
    settings: Settings,
    tenant_slug: str,
    username: str,
    display_name: str,
    roles: list[str],
    locale: str | None,
    password: str,
) -> str:
    from tsunagi.actions import accounts
    from tsunagi.adapters.security.passwords import PasswordHasher
    from tsunagi.adapters.storage.db import Database
    from tsunagi.domain.errors import NotFoundError

    db = Database(settings.effective_database_url)
    try:
        tenant = await accounts.find_tenant_by_slug(db, tenant_slug)
        if tenant is None:
            raise NotFoundError(f"no tenant with slug {tenant_slug!r}")
        hasher = PasswordHasher(
            time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib
        )
        user_id = await accounts.do_create_user(
            db,
            hasher,
            tenant_id=tenant.id,
            username=username,
            display_name=display_name,
            password=password,
            roles=roles,
            locale=locale,
            actor="cli",
        )
    finally:
        await db.dispose()
    return str(user_id)


@cli.group()
def tenant() -> None:
    """Tenants (the clients a center serves)."""


@tenant.command("create")
@click.option("--slug", required=True)
@click.option("--name", required=True)
@click.option("--timezone", default="Asia/Tokyo", show_default=True)
@click.option("--locale", type=click.Choice(["ja", "en"]), default="ja", show_default=True)
@click.pass_context
def tenant_create(ctx: click.Context, slug: str, name: str, timezone: str, locale: str) -> None:
    """Create a tenant."""
    from tsunagi.actions.accounts import do_create_tenant
    from tsunagi.adapters.storage.db import Database

    async def create() -> str:
        db = Database(_settings(ctx).effective_database_url)
        try:
            return str(
                await do_create_tenant(
                    db, slug=slug, name=name, timezone=timezone, default_locale=locale
                )
            )
        finally:
            await db.dispose()

    click.echo(f"created tenant {slug} ({_run(create())})")


@cli.group()
def customers() -> None:
    """Customer records (personal data is sealed; see docs/architecture/personal-data.md)."""


@customers.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--apply", is_flag=True, help="Write the good rows (default: preview only).")
@click.option("--max-errors", default=20, show_default=True, help="Bad rows to list.")
@click.pass_context
def customers_import(
    ctx: click.Context, csv_file: Path, tenant_slug: str, apply: bool, max_errors: int
) -> None:
    """Import customers from CSV_FILE (UTF-8, header row), streamed in batches.

    Columns: name (required), name_kana, kind, phones, emails, member_no, contract_no,
    address, segment, vip, tags, notes; several values in one cell are separated by ";".
    """
    settings = _settings(ctx)
    report = _run(_import_customers(settings, tenant_slug, csv_file, apply))
    verb = "imported" if apply else "would import"
    click.echo(f"{report.rows} rows: {verb} {report.imported}, rejected {report.rejected}")
    for error in report.errors[:max_errors]:
        click.echo(f"  line {error.line}: {error.message}")
    if report.rejected > max_errors:
        click.echo(f"  … and {report.rejected - max_errors} more")


async def _import_customers(
    settings: Settings, tenant_slug: str, csv_file: Path, apply: bool
) -> Any:
    from tsunagi.actions import accounts
    from tsunagi.actions.customers import do_import_csv
    from tsunagi.adapters.security.keyring import KeyRing, master_key_for
    from tsunagi.adapters.storage.db import Database
    from tsunagi.domain.errors import NotFoundError

    db = Database(settings.effective_database_url)
    try:
        tenant = await accounts.find_tenant_by_slug(db, tenant_slug)
        if tenant is None:
            raise NotFoundError(f"no tenant {tenant_slug!r}")
        with csv_file.open(encoding="utf-8-sig", newline="") as handle:
            return await do_import_csv(
                db,
                KeyRing(master_key_for(settings)),
                tenant_id=tenant.id,
                lines=handle,
                actor="cli",
                dry_run=not apply,
            )
    finally:
        await db.dispose()


@cli.group()
def keys() -> None:
    """The master key that protects personal data."""


@keys.command("init")
@click.pass_context
def keys_init(ctx: click.Context) -> None:
    """Create the master key file (refuses to replace an existing one)."""
    from tsunagi.adapters.security.crypto import load_or_create_master_key

    settings = _settings(ctx)
    path = settings.effective_master_key_file
    if path.exists():
        raise click.ClickException(f"{path} exists; a new key would make sealed data unreadable")
    load_or_create_master_key(path, create=True)
    click.echo(f"created {path} (mode 0600); back it up apart from the database")


@cli.group()
def docs() -> None:
    """Generate reference documents from the code."""


@docs.command("authorization")
def docs_authorization() -> None:
    """Print docs/authorization.md (the role × resource × action table)."""
    from tsunagi.web.docs import authorization_markdown, reference_app

    click.echo(authorization_markdown(reference_app()), nl=False)


@docs.command("events")
def docs_events() -> None:
    """Print docs/api/events.md (the event catalogue)."""
    from tsunagi.web.docs import event_catalogue_markdown

    click.echo(event_catalogue_markdown(), nl=False)


# Sub-command groups of other subsystems, added when their module is present.
for _module, _name in (
    ("tsunagi.cli.wfm", "wfm"),
    ("tsunagi.cli.sim", "sim"),
    ("tsunagi.cli.figures", "figures"),
    ("tsunagi.cli.voice", "voice"),
    ("tsunagi.cli.email", "email"),
    ("tsunagi.cli.surveys", "surveys"),
):
    try:
        cli.add_command(getattr(importlib.import_module(_module), _name))
    except ModuleNotFoundError as _exc:
        if _exc.name != _module:
            raise


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
