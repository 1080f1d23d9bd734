"""Arguments the CLI refuses before it touches anything: a clear line and exit code 2."""

from __future__ import annotations

import pytest

from core.cli import build_parser


@pytest.mark.parametrize(
    ("value", "said"),
    [("70000", "70000 is not a port (0 to 65535)"), ("-1", "-1 is not a port"), ("x", "'x'")],
)
def test_a_metrics_port_outside_the_port_range_is_refused(
    value: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ended:
        build_parser().parse_args(["deliver", "--metrics-port", value])
    assert ended.value.code == 2
    assert said in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "9101", "65535"])
def test_a_metrics_port_in_the_range_is_taken(value: str) -> None:
    arguments = build_parser().parse_args(["deliver", "--metrics-port", value])
    assert arguments.metrics_port == int(value)
