"""The backplane benchmark runs end to end (``--quick``) and prints its table; figures not judged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_backplane.py"

pytestmark = pytest.mark.redis


def test_bench_backplane_quick_prints_every_scenario_for_both_setups() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    # 0: the target met, 1: missed (the quick run is too small to judge it)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    rows = {(line[:24].strip(), line[25:37].strip()) for line in done.stdout.splitlines()}
    for scenario in ("broadcast S=20 paced", "broadcast S=20 burst", "room S=10 paced"):
        for setup in ("one server", "two + Redis"):
            assert (scenario, setup) in rows, f"no row for {scenario} / {setup}:\n{done.stdout}"
    assert "all targets met" in done.stdout or "target(s) missed" in done.stdout
