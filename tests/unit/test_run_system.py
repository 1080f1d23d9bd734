"""`make run`'s plan: ports and data folder from the environment, the database inside the
data folder, "try it" commands that reach the run they were printed by, and e-mail that
goes to the run's own mail catcher unless a real server is configured."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from core.config import SANDBOX_URL, Settings
from scripts import run_system
from scripts.run_system import (
    DEFAULT_DATABASE_URL,
    child_environment,
    cli_command,
    mail_where,
    plan,
    sandbox_command,
    try_it,
)

MOVED = {
    "SANDBOX_PORT": "12999",
    "SERVICE_PORT": "8999",
    "DASHBOARD_PORT": "8599",
}


@pytest.fixture(autouse=True)
def no_settings_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what each test passes, never from the shell or `.env`."""
    for name in (
        "DATABASE_URL",
        "STRIPE_SECRET_KEY",
        "STRIPE_API_BASE",
        "STRIPE_WEBHOOK_SECRET",
        "DATA_DIR",
        "SMTP_URL",
        "MAIL_PORT",
        *MOVED,
    ):
        monkeypatch.delenv(name, raising=False)


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def settings_from_prefix(command: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the CLI gets when a printed command line is run in a clean shell."""
    for word in shlex.split(command):
        if "=" not in word or word.startswith("-"):
            break
        name, value = word.split("=", 1)
        monkeypatch.setenv(name, value)
    return settings()


def test_defaults_change_nothing() -> None:
    layout = plan({}, settings())
    assert (layout.sandbox_port, layout.service_port, layout.dashboard_port) == (12111, 8000, 8501)
    assert layout.data_dir == run_system.ROOT / "data"
    assert layout.settings.database_url == DEFAULT_DATABASE_URL
    assert layout.sandbox_url == SANDBOX_URL and layout.on_sandbox
    assert layout.webhook_url == "http://127.0.0.1:8000/payments/stripe/webhook"
    # The one setting a default run's CLI needs: the demo's clock, which the sandbox keeps.
    clock_file = run_system.ROOT / "data" / "clock.json"
    assert layout.clock_file == clock_file
    assert cli_command(layout, "show-job 1") == (
        f"DEMO_CLOCK_FILE={clock_file} .venv/bin/python -m core.cli show-job 1"
    )


def test_data_dir_holds_the_database_when_none_is_set(tmp_path: Path) -> None:
    layout = plan({"DATA_DIR": str(tmp_path)}, settings())
    assert layout.data_dir == tmp_path
    assert layout.settings.database_url == f"sqlite:///{tmp_path / 'app.db'}"


def test_a_relative_data_dir_is_taken_from_where_make_run_was_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    layout = plan({"DATA_DIR": "second"}, settings())
    assert layout.settings.database_url == f"sqlite:///{tmp_path / 'second' / 'app.db'}"


def test_a_database_url_that_is_set_wins_over_data_dir(tmp_path: Path) -> None:
    url = "postgresql+psycopg://app@db.internal/jobs"
    layout = plan({"DATA_DIR": str(tmp_path)}, settings(database_url=url))
    assert layout.settings.database_url == url
    assert layout.data_dir == tmp_path  # still where the sandbox keeps its state


def test_every_process_gets_the_runs_database_sandbox_and_mail_catcher(tmp_path: Path) -> None:
    layout = plan({**MOVED, "MAIL_PORT": "2599", "DATA_DIR": str(tmp_path)}, settings())
    environment = child_environment({"PATH": "/usr/bin"}, layout, "whsec_test")
    assert environment == {
        "PATH": "/usr/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "STRIPE_API_BASE": "http://127.0.0.1:12999",
        "STRIPE_WEBHOOK_SECRET": "whsec_test",
        "DEMO_CLOCK_FILE": str(tmp_path / "clock.json"),
        "SMTP_URL": "smtp://127.0.0.1:2599",
        "MAIL_CATCHER_DIR": str(tmp_path / "mail"),
    }
    # The worker reads SMTP_URL as the settings do.
    smtp = settings(smtp_url=SecretStr(environment["SMTP_URL"])).smtp
    assert smtp is not None and (smtp.host, smtp.port) == ("127.0.0.1", 2599)


def test_mail_is_caught_in_the_data_folder_on_a_free_port_by_default(tmp_path: Path) -> None:
    layout = plan({"DATA_DIR": str(tmp_path)}, settings())
    assert layout.catches_mail and layout.mail_port == 0  # the catcher picks one as it starts
    assert layout.mail_dir == tmp_path / "mail"
    started = dataclasses.replace(layout, mail_port=2526)
    command = sandbox_command(started)
    assert command[command.index("--smtp") + 1] == "smtp://127.0.0.1:2526"
    assert command[command.index("--data") + 1] == str(tmp_path / "sandbox.json")
    assert str(tmp_path / "mail") in mail_where(started)


def test_a_configured_smtp_server_takes_the_mail_and_the_sandbox_sends_none(
    tmp_path: Path,
) -> None:
    url = "smtp://mail.internal:2525"
    layout = plan({"DATA_DIR": str(tmp_path)}, settings(smtp_url=SecretStr(url)))
    assert not layout.catches_mail
    environment = child_environment({"SMTP_URL": url}, layout, "whsec_test")
    assert environment["SMTP_URL"] == url and "MAIL_CATCHER_DIR" not in environment
    assert "--smtp" not in sandbox_command(layout)  # its customers are made up
    assert mail_where(layout) == "mail.internal:2525 (SMTP_URL)"


def test_printed_commands_reach_a_moved_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = plan({**MOVED, "DATA_DIR": str(tmp_path / "a folder")}, settings())
    lines = [line.strip() for line in try_it(layout).splitlines()]
    commands = [line for line in lines if " -m core.cli " in line]
    assert len(commands) == 5
    for command in commands:
        cli = settings_from_prefix(command, monkeypatch)
        assert cli.stripe_base == "http://127.0.0.1:12999"
        assert cli.database_url == f"sqlite:///{tmp_path / 'a folder' / 'app.db'}"
        assert cli.database_url == layout.settings.database_url


def test_printed_commands_reach_a_run_on_default_ports_with_moved_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = plan({"DATA_DIR": str(tmp_path)}, settings())
    command = cli_command(layout, "show-job 1")
    assert "STRIPE_API_BASE" not in command
    cli = settings_from_prefix(command, monkeypatch)
    assert (cli.database_url, cli.stripe_base) == (layout.settings.database_url, SANDBOX_URL)


def test_real_stripe_starts_no_sandbox_and_prints_no_key() -> None:
    key = "sk_test_real_key_not_to_print"
    layout = plan(
        MOVED, settings(stripe_secret_key=SecretStr(key), stripe_webhook_secret="whsec_x")
    )
    assert not layout.on_sandbox and layout.clock_file is None  # real Stripe, real time
    assert layout.settings.stripe_base is None
    text = try_it(layout)
    assert key not in text and "STRIPE_API_BASE" not in text
    assert "STRIPE_SECRET_KEY" in text  # says the CLI needs it


@pytest.mark.parametrize("name", ["SERVICE_PORT", "MAIL_PORT"])
@pytest.mark.parametrize("value", ["eighty", "0", "65536", "-1"])
def test_a_bad_port_is_refused_in_words(name: str, value: str) -> None:
    with pytest.raises(SystemExit, match=f"{name} must be a port number"):
        plan({name: value}, settings())
