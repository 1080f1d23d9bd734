"""The suite's `xdist_group` marks hold: tests of one group run on one worker.

The e2e tests share one live system, and the seeded-demo and API-refusal tests share
worlds that take seconds to build, through that mark. A pytest or pytest-xdist release
that drops it (pytest 9.2 with pytest-xdist 3.8 does, pytest-xdist#1386) fails nothing
and doubles their cost, so this runs a small suite as the project's pytest runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GROUPED = """
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("together")


@pytest.mark.parametrize("number", range(4))
def test_grouped(number):
    out = Path(os.environ["GROUPS_OUT"]) / f"{Path(__file__).stem}-{number}"
    out.write_text(os.environ["PYTEST_XDIST_WORKER"])
"""

ALONE = """
import pytest


@pytest.mark.parametrize("number", range(16))
def test_alone(number):
    pass
"""


def test_the_tests_of_one_group_run_on_one_worker(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    for name in ("test_one", "test_two"):
        (suite / f"{name}.py").write_text(GROUPED)
    (suite / "test_other.py").write_text(ALONE)  # work for the other worker meanwhile
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "xdist.plugin",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(suite),
            str(suite),
        ],
        cwd=suite,
        # Only xdist among the plugins: the others (schemathesis, hypothesis) take seconds
        # to load in each of the three processes and have nothing to do with the grouping.
        env={**os.environ, "GROUPS_OUT": str(out), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    workers = {path.name: path.read_text() for path in out.iterdir()}
    assert len(workers) == 8, workers
    assert len(set(workers.values())) == 1, workers
