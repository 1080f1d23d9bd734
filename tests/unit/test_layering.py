"""The dependency direction, read from the source: dashboard → core ← webhook_service;
core knows nothing of Streamlit or HTTP; only the gateway imports `stripe`; the sandbox
stands alone; and core's packages depend on each other in one order, without cycles."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = "core/billing/stripe_gateway.py"

# core's packages from the bottom up: each may import only those before it.
CORE_LAYERS = [
    {
        "core.config",
        "core.errors",
        "core.money",
        "core.db",
        "core.observability.metrics",
        "core.observability.logs",
    },
    {"core.identity", "core.audit", "core.notify"},
    {"core.billing", "core.context"},
    {"core.jobs"},
    {"core.reporting", "core.observability"},
    {"core.seed", "core.cli"},
]
# Imports that stay inside one package are its own business.
CORE_UNITS = sorted(set().union(*CORE_LAYERS), key=len, reverse=True)


# The dashboard's runtime hands pages a typed session; pages themselves run no SQL.
ALLOWED_EXCEPTIONS = {"sqlalchemy.orm", "sqlalchemy.orm.Session"}


def sources(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from core import audit` names the module `core.audit`.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def top(module: str) -> str:
    return module.split(".")[0]


def unit_of(module: str) -> str | None:
    return next((u for u in CORE_UNITS if module == u or module.startswith(u + ".")), None)


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("core", {"streamlit", "fastapi", "starlette", "uvicorn", "dashboard", "webhook_service"}),
        ("dashboard", {"webhook_service", "stripe_sandbox", "stripe", "sqlalchemy", "fastapi"}),
        ("webhook_service", {"dashboard", "stripe_sandbox", "stripe", "streamlit"}),
        # The sandbox reads the SDK's pinned API version to stamp its events, as Stripe does.
        ("stripe_sandbox", {"core", "dashboard", "webhook_service"}),
    ],
)
def test_each_part_imports_only_in_its_direction(package: str, forbidden: set[str]) -> None:
    crossings = [
        f"{relative(path)} imports {module}"
        for path in sources(package)
        for module in sorted(imported_modules(path))
        if top(module) in forbidden and module not in ALLOWED_EXCEPTIONS
    ]
    assert crossings == []


def test_only_the_gateway_imports_stripe() -> None:
    importers = [
        relative(path)
        for package in ("core", "dashboard", "webhook_service", "scripts")
        for path in sources(package)
        if any(top(module) == "stripe" for module in imported_modules(path))
    ]
    assert importers == [GATEWAY]


def test_core_packages_depend_downwards_only() -> None:
    layer_of = {unit: index for index, layer in enumerate(CORE_LAYERS) for unit in layer}
    upward = []
    for path in sources("core"):
        if path == ROOT / "core" / "__init__.py":
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        own = unit_of(module)
        assert own is not None, f"{relative(path)} belongs to no layer in CORE_LAYERS"
        for imported in imported_modules(path):
            other = unit_of(imported)
            if other is not None and other != own and layer_of[other] > layer_of[own]:
                upward.append(f"{relative(path)} ({own}) imports {imported} ({other})")
    assert upward == []


def test_every_core_module_is_in_a_domain_package() -> None:
    loose = {relative(path) for path in (ROOT / "core").glob("*.py") if path.name != "__init__.py"}
    # Entry points and the few pieces every domain shares.
    assert loose == {
        "core/audit.py",
        "core/cli.py",
        "core/config.py",
        "core/context.py",
        "core/errors.py",
        "core/money.py",
        "core/seed.py",
    }
