"""`make run`: the whole system on embedded defaults.

Migrates and seeds the database on first run, starts the Stripe sandbox (unless a real
Stripe key is configured), registers the webhook endpoint and uses the secret it returns,
then starts the webhook service and the dashboard. Ctrl-C stops everything.

E-mail stays on the machine: unless `SMTP_URL` names a real server, a mail catcher
(mailcatcher/) takes every message, the delivery worker's and the e-mails the sandbox sends
as Stripe would, and keeps each as an .eml file in `<DATA_DIR>/mail/`.

Five settings move a run, e.g. to start a second copy beside the first:
`SANDBOX_PORT` (12111) for the Stripe sandbox, `SERVICE_PORT` (8000) for the webhook
service and REST API, `DASHBOARD_PORT` (8501) for the dashboard, `MAIL_PORT` (a free one)
for the mail catcher, and `DATA_DIR` (`data/`) for the sandbox's `sandbox.json`, the caught
mail and, unless `DATABASE_URL` is set, the SQLite `app.db`.
The "try it" commands it prints carry the settings the CLI needs to reach this run
(`STRIPE_API_BASE`, `DATABASE_URL`) whenever they differ from the defaults.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.billing.webhooks import subscribed_event_types  # noqa: E402
from core.config import SANDBOX_URL, Settings, get_settings  # noqa: E402
from core.context import AppContext  # noqa: E402
from core.db.clock import CLOCK_FILE_VARIABLE  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.db.session import session_scope  # noqa: E402
from core.seed import SandboxClock, has_data, invoice_demo, seed_demo  # noqa: E402
from mailcatcher.catcher import MailCatcher  # noqa: E402

DEFAULT_SANDBOX_PORT = int(SANDBOX_URL.rsplit(":", 1)[1])
DEFAULT_SERVICE_PORT = 8000
DEFAULT_DASHBOARD_PORT = 8501
DEFAULT_DATA_DIR = ROOT / "data"
DEMO_DELIVERY_INTERVAL = 2  # seconds between the e-mail worker's passes
DEFAULT_DATABASE_URL: str = Settings.model_fields["database_url"].default
# Where the dashboard finds the caught mail of this run (its "Mail caught" page).
MAIL_CATCHER_DIR_VARIABLE = "MAIL_CATCHER_DIR"


@dataclass(frozen=True)
class Layout:
    """Where one run's processes listen and keep their data, and the settings they share."""

    settings: Settings
    sandbox_port: int
    service_port: int
    dashboard_port: int
    data_dir: Path
    mail_port: int = 0  # 0 until the catcher has one: MAIL_PORT, or any free port

    @property
    def catches_mail(self) -> bool:
        """Whether this run's mail goes to its own catcher: unless SMTP_URL is configured."""
        return self.settings.smtp_url is None or not self.settings.smtp_url.get_secret_value()

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def mail_url(self) -> str:
        return f"smtp://127.0.0.1:{self.mail_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.service_url}/payments/stripe/webhook"

    @property
    def on_sandbox(self) -> bool:
        return self.settings.stripe_api_base == self.sandbox_url

    @property
    def clock_file(self) -> Path | None:
        """Where the sandbox publishes the demo's clock, which every process of the run
        keeps (core.db.clock); a run on real Stripe keeps real time."""
        return self.data_dir / "clock.json" if self.on_sandbox else None


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SystemExit(f"{name} must be a port number between 1 and 65535, not {text!r}.")
    return int(text)


def plan(environ: Mapping[str, str], settings: Settings) -> Layout:
    """The run that `environ` asks for: ports, data folder, database and Stripe base.

    Without `DATABASE_URL` (in the environment or `.env`) the database lives in the data
    folder; without a Stripe key or base every process talks to the sandbox this run starts.
    """
    sandbox_port = _port(environ, "SANDBOX_PORT", DEFAULT_SANDBOX_PORT)
    data_dir = Path(environ.get("DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()
    updates: dict[str, object] = {}
    if "database_url" not in settings.model_fields_set:
        updates["database_url"] = f"sqlite:///{data_dir / 'app.db'}"
    if settings.uses_sandbox:
        updates["stripe_api_base"] = f"http://127.0.0.1:{sandbox_port}"
    return Layout(
        settings=settings.model_copy(update=updates),
        sandbox_port=sandbox_port,
        service_port=_port(environ, "SERVICE_PORT", DEFAULT_SERVICE_PORT),
        dashboard_port=_port(environ, "DASHBOARD_PORT", DEFAULT_DASHBOARD_PORT),
        data_dir=data_dir,
        mail_port=_port(environ, "MAIL_PORT", 0),
    )


def child_environment(
    environ: Mapping[str, str], layout: Layout, webhook_secret: str
) -> dict[str, str]:
    """The environment of the webhook service, the dashboard and the delivery worker: the
    same database and Stripe as this run, the endpoint's signing secret, and the catcher
    for its mail."""
    environment = dict(environ)
    environment["DATABASE_URL"] = layout.settings.database_url
    if layout.settings.stripe_api_base is not None:
        environment["STRIPE_API_BASE"] = layout.settings.stripe_api_base
    environment["STRIPE_WEBHOOK_SECRET"] = webhook_secret
    if layout.clock_file is not None:
        environment[CLOCK_FILE_VARIABLE] = str(layout.clock_file)
    if layout.catches_mail:
        environment["SMTP_URL"] = layout.mail_url
        environment[MAIL_CATCHER_DIR_VARIABLE] = str(layout.mail_dir)
    return environment


def sandbox_command(layout: Layout) -> list[str]:
    """The Stripe sandbox of this run, which e-mails customers as Stripe does in live mode
    when the run has a catcher (never to a real mail server: its customers are made up)."""
    command = [
        sys.executable,
        "-m",
        "stripe_sandbox",
        "--port",
        str(layout.sandbox_port),
        "--data",
        str(layout.data_dir / "sandbox.json"),
        "--log-level",
        "warning",
    ]
    if layout.clock_file is not None:
        command += ["--clock-file", str(layout.clock_file)]
    if layout.catches_mail:
        command += ["--smtp", layout.mail_url]
    return command


def mail_where(layout: Layout) -> str:
    """Where this run's e-mail goes, for the summary."""
    if layout.catches_mail:
        return f"{layout.mail_dir}/*.eml  (caught at {layout.mail_url}; none leaves)"
    try:
        server = layout.settings.smtp
    except ValueError as error:
        return f"nowhere: {error}"
    return f"{server.host}:{server.port} (SMTP_URL)" if server is not None else "nowhere"


def cli_settings(layout: Layout) -> dict[str, str]:
    """What the CLI, started with no settings of its own, needs to reach this run."""
    settings: dict[str, str] = {}
    base = layout.settings.stripe_api_base
    if base is not None and base != SANDBOX_URL:
        settings["STRIPE_API_BASE"] = base
    if layout.settings.database_url != DEFAULT_DATABASE_URL:
        settings["DATABASE_URL"] = layout.settings.database_url
    if layout.clock_file is not None:  # the CLI keeps the demo's time too
        settings[CLOCK_FILE_VARIABLE] = str(layout.clock_file)
    return settings


def cli_command(layout: Layout, arguments: str) -> str:
    """A CLI command line for this run, its settings in front when they are not defaults."""
    prefix = [f"{name}={shlex.quote(value)}" for name, value in cli_settings(layout).items()]
    return " ".join([*prefix, ".venv/bin/python -m core.cli", arguments])


def try_it(layout: Layout) -> str:
    """The flow from a terminal, as commands for this run."""
    lines = [
        cli_command(layout, "create-job --customer 1 --provider 1 --service 1 --price 15000"),
        cli_command(layout, "complete-job <JOB_ID>") + "      # prints the invoice link",
        "open the link and pay with 4242 4242 4242 4242, or:",
        cli_command(layout, "pay-test-invoice <JOB_ID>"),
        cli_command(layout, "show-job <JOB_ID>"),
        cli_command(layout, "notifications --provider 1"),
    ]
    if layout.settings.stripe_secret_key is not None:
        lines.append("(the CLI needs this run's STRIPE_SECRET_KEY too: environment or .env)")
    return "\n".join(f"  {line}" for line in lines)


def require_free(port: int, name: str) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            sys.exit(
                f"Port {port} for the {name} is already in use (an earlier `make run`?). "
                "Stop that process first."
            )


def wait_for(url: str, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} stopped during start-up (exit code {process.returncode}).")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    sys.exit(f"{name} did not answer at {url} within 30 s.")


def main() -> None:
    layout = plan(os.environ, get_settings())
    settings = layout.settings
    children: list[subprocess.Popen[bytes]] = []

    def stop(*_: object) -> None:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    if layout.catches_mail:
        if layout.mail_port:
            require_free(layout.mail_port, "mail catcher")
        # In this process, first: the sandbox and the worker are told its port.
        catcher = MailCatcher(layout.mail_dir, port=layout.mail_port).start()
        layout = replace(layout, mail_port=catcher.port)
    require_free(layout.service_port, "webhook service")
    require_free(layout.dashboard_port, "dashboard")
    if layout.on_sandbox:
        require_free(layout.sandbox_port, "Stripe sandbox")

    sandbox_state = layout.data_dir / "sandbox.json"
    if layout.clock_file is not None:
        # Started first, so that it comes up while the database is migrated and seeded.
        sandbox = subprocess.Popen(sandbox_command(layout), cwd=ROOT)
        children.append(sandbox)
        os.environ[CLOCK_FILE_VARIABLE] = str(layout.clock_file)  # seeding keeps it too
    upgrade(settings.database_url)
    context = AppContext.create(settings)
    with session_scope(context.sessions) as session:
        fresh = not has_data(session)
        if fresh:
            summary = seed_demo(session)
    if layout.on_sandbox:
        wait_for(f"{layout.sandbox_url}/_sandbox/health", sandbox, "The Stripe sandbox")
        if fresh:
            demo_clock = SandboxClock(layout.sandbox_url)
            invoiced = invoice_demo(context, demo_clock)
            demo_clock.close()
            print(
                f"Seeded demo data: {summary.jobs} jobs, {summary.providers} providers; "
                f"{invoiced} unpaid jobs invoiced in the sandbox on the days they were done."
            )
        secret = context.gateway.replace_webhook_endpoint(
            layout.webhook_url, subscribed_event_types()
        )
    elif settings.stripe_webhook_secret is not None:
        if fresh:  # nothing is invoiced in real Stripe for the demo: its jobs show as owed
            print(f"Seeded demo data: {summary.jobs} jobs, {summary.providers} providers.")
        secret = settings.stripe_webhook_secret.get_secret_value()
    else:
        sys.exit(
            "With a real Stripe key, run `stripe listen --forward-to "
            f"localhost:{layout.service_port}/payments/stripe/webhook` and set "
            "STRIPE_WEBHOOK_SECRET to the whsec_... it prints."
        )
    context.close()

    environment = child_environment(os.environ, layout, secret)
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "webhook_service.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(layout.service_port),
        ],
        cwd=ROOT,
        env=environment,
    )
    children.append(service)
    dashboard = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard/server.py",  # the app and its session-cookie routes
            "--server.port",
            str(layout.dashboard_port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=environment,
    )
    children.append(dashboard)
    # Every 2 s rather than the worker's 10: in the demo an e-mail follows its cause while
    # the person who caused it still looks, and a pass with nothing due is one query.
    deliver = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "deliver", "--interval", str(DEMO_DELIVERY_INTERVAL)],
        cwd=ROOT,
        env=environment,
    )
    children.append(deliver)
    # Both start side by side; neither needs the other to come up.
    wait_for(f"{layout.service_url}/healthz", service, "The webhook service")
    wait_for(f"{layout.dashboard_url}/_stcore/health", dashboard, "The dashboard")

    if layout.on_sandbox:
        stripe_where = f"{layout.sandbox_url} (sandbox, state in {sandbox_state})"
    elif settings.stripe_base is None:
        stripe_where = "Stripe test mode"
    else:
        stripe_where = settings.stripe_base
    print(
        f"""
Everything is up:
  Dashboard           {layout.dashboard_url}  (demo sign-ins in the README)
  Stripe              {stripe_where}
  Webhook service     {layout.service_url}  (webhooks at {layout.webhook_url})
  API docs            {layout.service_url}/docs
  Database            {settings.database_url}
  E-mail              {mail_where(layout)}

Try it (in another terminal, in this folder):
{try_it(layout)}
Ctrl-C stops everything.""",
        flush=True,
    )
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    stop()


if __name__ == "__main__":
    main()
