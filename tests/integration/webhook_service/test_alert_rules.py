"""deploy/prometheus/alerts.yml: a rules file Prometheus loads (groups of named rules, each
with an expression, a runbook section in docs/operations.md), and every metric it names
is one the webhook service's /metrics really exposes; promtool checks the file and plays its
tests (deploy/prometheus/alerts_test.yml)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml  # type: ignore[import-untyped]
from prometheus_client.parser import text_string_to_metric_families

from core.context import AppContext
from core.db.models import AuditLog
from core.db.session import session_scope
from tests.support.webhook_events import billed_job, deliver, invoice_object, stripe_event

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RUNBOOK = ROOT / "docs" / "operations.md"
SUFFIX = {"counter": "_total"}


def rules() -> list[dict[str, object]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_rule_is_complete_and_its_runbook_section_exists() -> None:
    headings = {
        re.sub(r"[^a-z0-9]", "", line.lstrip("#").strip().lower())
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }
    names = [str(rule["alert"]) for rule in rules()]

    assert len(names) == len(set(names)) >= 6
    for rule in rules():
        assert str(rule["expr"]).strip(), rule["alert"]
        annotations = rule["annotations"]
        assert isinstance(annotations, dict) and annotations["summary"]
        anchor = str(annotations["runbook"]).split("#", 1)[1]
        assert anchor == str(rule["alert"]).lower()
        assert anchor in headings, f"docs/operations.md has no section {rule['alert']}"


def test_every_metric_a_rule_names_is_scraped(ctx: AppContext, http: httpx.Client) -> None:
    deliver(http, stripe_event("invoice.paid", invoice_object(billed_job(ctx))))
    with session_scope(ctx.sessions) as session:  # a reconciliation check on record
        session.add(
            AuditLog(actor="system", action="drift.check", after={"drifts": 0}, result="ok")
        )
    families = list(text_string_to_metric_families(http.get("/metrics").text))
    # A labelled counter shows its family (HELP, TYPE) before its first sample.
    scraped = {sample.name for family in families for sample in family.samples} | {
        family.name + SUFFIX.get(family.type, "") for family in families
    }
    named = {
        name for rule in rules() for name in re.findall(r"\bjobtopaid_[a-z_]+\b", str(rule["expr"]))
    }

    assert named  # the rules do name our metrics
    assert named <= scraped, sorted(named - scraped)


def promtool() -> str:
    """Prometheus's own checker (Debian's `prometheus` package); CI installs it."""
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def test_promtool_loads_the_rules_and_each_fires_as_its_tests_expect() -> None:
    """`promtool check rules` parses every expression as Prometheus does; `test rules`
    plays made-up series through them (deploy/prometheus/alerts_test.yml), so an alert
    that would never fire, or would fire on a quiet day, fails here."""
    tool = promtool()
    for command in (["check", "rules", RULES.name], ["test", "rules", "alerts_test.yml"]):
        done = subprocess.run(
            [tool, *command], cwd=RULES.parent, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
