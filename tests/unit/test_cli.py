"""The command line: help everywhere, clear refusals, and the demo loading for real."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tsunagi.cli.main import cli, serving_settings
from tsunagi.settings import load_settings


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_command_has_help() -> None:
    runner = CliRunner()
    commands = all_commands(cli)
    for path in (("serve",), ("demo",), ("db", "upgrade"), ("user", "create")):
        assert path in commands
    for path in commands:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_production_with_default_secrets_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["serve"], env={"TSUNAGI_ENV": "production", "TSUNAGI_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code != 0
    assert "TSUNAGI_SECRET_KEY" in result.output
    assert "TSUNAGI_SECURE_COOKIES" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"TSUNAGI_DATABASE_URL": "mysql://x"}, "TSUNAGI_DATABASE_URL"),
        ({"TSUNAGI_PORT": "99999"}, "port"),
        ({"TSUNAGI_NO_SUCH_SETTING": "1"}, ""),
    ],
)
def test_bad_settings_name_the_problem(env: dict[str, str], needle: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["db", "upgrade"], env={"TSUNAGI_DATA_DIR": str(tmp_path), **env}
    )
    if env.get("TSUNAGI_NO_SUCH_SETTING"):
        # Unknown environment variables are ignored (the shell has many); unknown keys in a
        # config file are not — see the next test.
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code != 0
    assert needle in result.output
    assert "Traceback" not in result.output


def test_unknown_keys_in_a_config_file_are_errors(tmp_path: Path) -> None:
    config = tmp_path / "tsunagi.toml"
    config.write_text('data_dir = "x"\nsecret_kee = "typo"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "db", "upgrade"])
    assert result.exit_code != 0
    assert "secret_kee" in result.output


def test_db_upgrade_then_user_create(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"TSUNAGI_DATA_DIR": str(tmp_path)}
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    created = runner.invoke(cli, ["tenant", "create", "--slug", "acme", "--name", "Acme"], env=env)
    assert created.exit_code == 0, created.output
    bad_role = runner.invoke(
        cli,
        [
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "boss",
            "--name",
            "Boss",
            "--role",
            "emperor",
            "--password-stdin",
        ],
        env=env,
        input="a-long-enough-password\n",
    )
    assert bad_role.exit_code != 0
    assert "emperor" in bad_role.output
    good = runner.invoke(
        cli,
        [
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "boss",
            "--name",
            "Boss",
            "--role",
            "administrator",
            "--password-stdin",
        ],
        env=env,
        input="a-long-enough-password\n",
    )
    assert good.exit_code == 0, good.output
    with sqlite3.connect(tmp_path / "tsunagi.db") as connection:
        rows = connection.execute("SELECT username, roles FROM users").fetchall()
    assert rows == [("boss", '["administrator"]')]


@pytest.mark.slow
def test_the_demo_loads_the_co_op(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--data-dir", str(tmp_path), "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8000/" in result.output
    with sqlite3.connect(tmp_path / "tsunagi.db") as connection:
        counts = dict(
            connection.execute(
                "SELECT 'queues', count(*) FROM queues UNION ALL "
                "SELECT 'categories', count(*) FROM categories UNION ALL "
                "SELECT 'users', count(*) FROM users"
            ).fetchall()
        )
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert counts == {"queues": 10, "categories": 25, "users": 46}
    assert mode == "wal"
    again = CliRunner().invoke(cli, ["demo", "--data-dir", str(tmp_path), "--no-serve"])
    assert again.exit_code == 0


def test_customers_import_previews_then_applies(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"TSUNAGI_DATA_DIR": str(tmp_path)}
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    assert (
        runner.invoke(cli, ["tenant", "create", "--slug", "co", "--name", "Co"], env=env).exit_code
        == 0
    )
    source = tmp_path / "customers.csv"
    source.write_text("\ufeffname,phones\n中村 恵,03-1111-2222\n,03-3333-4444\n", encoding="utf-8")
    preview = runner.invoke(cli, ["customers", "import", str(source), "--tenant", "co"], env=env)
    assert preview.exit_code == 0, preview.output
    assert "2 rows: would import 1, rejected 1" in preview.output
    assert "line 3: a customer needs a name" in preview.output
    with sqlite3.connect(tmp_path / "tsunagi.db") as connection:
        assert connection.execute("SELECT count(*) FROM customers").fetchone() == (0,)
    applied = runner.invoke(
        cli, ["customers", "import", str(source), "--tenant", "co", "--apply"], env=env
    )
    assert "imported 1, rejected 1" in applied.output
    with sqlite3.connect(tmp_path / "tsunagi.db") as connection:
        assert connection.execute("SELECT count(*) FROM customers").fetchone() == (1,)
        assert b"\xe4\xb8\xad\xe6\x9d\x91" not in b"".join(  # 中村 is stored sealed
            row[0] for row in connection.execute("SELECT name_enc FROM customers")
        )
    missing = runner.invoke(cli, ["customers", "import", str(source), "--tenant", "nope"], env=env)
    assert missing.exit_code != 0
    assert "nope" in missing.output


def test_a_served_app_folds_figures_in_a_child_unless_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TSUNAGI_FIGURES_PROJECTOR", raising=False)
    assert load_settings().figures_projector == "in-process"  # an app built in a test, say
    assert serving_settings(load_settings()).figures_projector == "child"
    monkeypatch.setenv("TSUNAGI_FIGURES_PROJECTOR", "in-process")
    assert serving_settings(load_settings()).figures_projector == "in-process"
    config = tmp_path / "tsunagi.toml"
    config.write_text('figures_projector = "in-process"\n', encoding="utf-8")
    monkeypatch.delenv("TSUNAGI_FIGURES_PROJECTOR")
    assert serving_settings(load_settings(config)).figures_projector == "in-process"
    memory = load_settings(database_url="sqlite+aiosqlite:///:memory:")
    assert serving_settings(memory).figures_projector == "in-process"  # no other process sees it
    monkeypatch.setenv("TSUNAGI_FIGURES_PROJECTOR", "elsewhere")
    with pytest.raises(ValueError, match="figures_projector"):
        load_settings()
