"""`make run`: the whole system on embedded defaults.

Migrates and seeds the database on first run, starts the Stripe sandbox (unless a real
Stripe key is configured), registers the webhook endpoint and uses the secret it returns,
then starts the webhook service and the dashboard. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.billing.webhooks import subscribed_event_types  # noqa: E402
from core.config import SANDBOX_URL, get_settings  # noqa: E402
from core.context import AppContext  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.db.session import session_scope  # noqa: E402
from core.seed import has_data, seed_demo  # noqa: E402

# Ports and the data folder can be moved, e.g. to run a second copy beside the first.
SERVICE_PORT = int(os.environ.get("SERVICE_PORT", "8000"))
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", SANDBOX_URL.rsplit(":", 1)[1]))
DATA_DIR = Path(os.environ.get("DATA_DIR", ROOT / "data"))
DASHBOARD_PORT = int(os.environ.get("DASHBOARD_PORT", "8501"))
WEBHOOK_URL = f"http://127.0.0.1:{SERVICE_PORT}/payments/stripe/webhook"


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
    settings = get_settings()
    children: list[subprocess.Popen[bytes]] = []
    environment = dict(os.environ)
    sandbox_url = f"http://127.0.0.1:{SANDBOX_PORT}"
    if settings.uses_sandbox:
        # Every process talks to this sandbox, wherever it listens.
        environment["STRIPE_API_BASE"] = sandbox_url
        settings = settings.model_copy(update={"stripe_api_base": sandbox_url})

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

    require_free(SERVICE_PORT, "webhook service")
    require_free(DASHBOARD_PORT, "dashboard")
    if settings.stripe_api_base == sandbox_url:
        require_free(SANDBOX_PORT, "Stripe sandbox")
    upgrade(settings.database_url)
    context = AppContext.create(settings)
    with session_scope(context.sessions) as session:
        if not has_data(session):
            summary = seed_demo(session)
            print(f"Seeded demo data: {summary.jobs} jobs, {summary.providers} providers.")

    if settings.stripe_api_base == sandbox_url:
        sandbox = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stripe_sandbox",
                "--port",
                str(SANDBOX_PORT),
                "--data",
                str(DATA_DIR / "sandbox.json"),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
        )
        children.append(sandbox)
        wait_for(f"{sandbox_url}/_sandbox/health", sandbox, "The Stripe sandbox")
        secret = context.gateway.replace_webhook_endpoint(WEBHOOK_URL, subscribed_event_types())
    elif settings.stripe_webhook_secret is not None:
        secret = settings.stripe_webhook_secret.get_secret_value()
    else:
        sys.exit(
            "With a real Stripe key, run `stripe listen --forward-to "
            f"localhost:{SERVICE_PORT}/payments/stripe/webhook` and set STRIPE_WEBHOOK_SECRET "
            "to the whsec_... it prints."
        )
    context.close()

    environment["STRIPE_WEBHOOK_SECRET"] = secret
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "webhook_service.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(SERVICE_PORT),
        ],
        cwd=ROOT,
        env=environment,
    )
    children.append(service)
    wait_for(f"http://127.0.0.1:{SERVICE_PORT}/healthz", service, "The webhook service")
    dashboard = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard/streamlit_app.py",
            "--server.port",
            str(DASHBOARD_PORT),
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
    wait_for(f"http://127.0.0.1:{DASHBOARD_PORT}/_stcore/health", dashboard, "The dashboard")

    on_sandbox = settings.stripe_api_base == sandbox_url
    stripe_where = f"{sandbox_url} (sandbox)" if on_sandbox else "Stripe test mode"
    print(
        f"""
Everything is up:
  Dashboard           http://127.0.0.1:{DASHBOARD_PORT}  (demo sign-ins in the README)
  Stripe              {stripe_where}
  Webhook service     http://127.0.0.1:{SERVICE_PORT}  (webhooks at {WEBHOOK_URL})
  API docs            http://127.0.0.1:{SERVICE_PORT}/docs
  Database            {settings.database_url}

Try it (in another terminal):
  .venv/bin/python -m core.cli create-job --customer 1 --provider 1 --service 1 --price 15000
  .venv/bin/python -m core.cli complete-job <JOB_ID>      # prints the invoice link
  open the link and pay with 4242 4242 4242 4242, or:
  .venv/bin/python -m core.cli pay-test-invoice <JOB_ID>
  .venv/bin/python -m core.cli show-job <JOB_ID>
  .venv/bin/python -m core.cli notifications --provider 1
Ctrl-C stops everything.""",
        flush=True,
    )
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    stop()


if __name__ == "__main__":
    main()
