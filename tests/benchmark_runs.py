"""Running a benchmark script end to end (``--quick``) as the smoke tests do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_quick(script: str) -> subprocess.CompletedProcess[str]:
    """Run ``benchmarks/<script> --quick``; it must end without a traceback, met or missed."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    # 0: every target met, 1: some missed (a quick run is too small to judge them)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done
