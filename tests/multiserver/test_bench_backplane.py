"""The backplane benchmark runs end to end (``--quick``) and prints its table; figures not judged."""

from __future__ import annotations

import pytest

from tests.benchmark_runs import run_quick

pytestmark = pytest.mark.redis


def test_bench_backplane_quick_prints_every_scenario_for_both_setups() -> None:
    done = run_quick("bench_backplane.py")
    rows = {(line[:24].strip(), line[25:37].strip()) for line in done.stdout.splitlines()}
    for scenario in ("broadcast S=20 paced", "broadcast S=20 burst", "room S=10 paced"):
        for setup in ("one server", "two + Redis"):
            assert (scenario, setup) in rows, f"no row for {scenario} / {setup}:\n{done.stdout}"
    assert "all targets met" in done.stdout or "target(s) missed" in done.stdout
