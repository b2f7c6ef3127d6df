"""The server benchmark runs end to end (``--quick``) and prints its table; its figures are not judged here."""

from __future__ import annotations

from tests.benchmark_runs import run_quick

SCENARIOS = (
    "connect storm K=",
    "fanout S=60 paced",
    "fanout S=60 burst",
    "fanout S=20 paced",
    "fanout S=20 burst",
    "request/reply C=",
    "idle memory",
)
#: The capacity scenario (exact names): its WebSocket part on raw and ours, the rest ours only.
CAPACITY = (
    ("capacity: W=200 WS", ("raw", "ours")),
    ("capacity: bcast to W", ("raw", "ours")),
    ("capacity: keep-alive", ("ours",)),
    ("capacity: P=50 polls", ("ours",)),
    ("capacity: bcast to W+P", ("ours",)),
)


def test_bench_server_quick_prints_every_scenario_for_every_target() -> None:
    done = run_quick("bench_server.py")
    # a row: the scenario in the first 22 columns, then the target
    rows = {(line[:22].strip(), line[23:32].strip()) for line in done.stdout.splitlines()}
    targets = ["raw", "ours"]
    if "python-socketio is not installed" not in done.stdout:
        targets.append("socketio")
    for scenario in SCENARIOS:
        for target in targets:
            assert any(s.startswith(scenario) and t == target for s, t in rows), (
                f"no row for {scenario!r} / {target}:\n{done.stdout}"
            )
    for scenario, capacity_targets in CAPACITY:
        for target in capacity_targets:
            assert (scenario, target) in rows, f"no row for {scenario!r} / {target}:\n{done.stdout}"
    assert "targets met" in done.stdout or "target(s) missed" in done.stdout
