"""The benchmarks run end to end (``--quick``) and print their tables; figures are not judged here."""

from __future__ import annotations

from jupyter_sente.packers.edn import pure_python_requested
from tests.benchmark_runs import run_quick

#: What the benchmarks say of the EDN packer they measure: the compiled speedups must be
#: there, except when a run turned them off on purpose.
SPEEDUPS = (
    "EDN compiled speedups: NOT built"
    if pure_python_requested()
    else "EDN compiled speedups: built"
)

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


def test_bench_client_quick_prints_every_client_and_measures_the_compiled_packer() -> None:
    done = run_quick("bench_client.py")
    assert SPEEDUPS in done.stdout, done.stdout
    for client in (
        "bare websockets (edn)",
        "jupyter-sente Client (ws, edn)",
        "jupyter-sente Client (ws, json)",
        "jupyter-sente Client (ajax, edn)",
        "ThreadedClient (ws, edn; thread hop)",
    ):
        assert any(line.startswith(client) for line in done.stdout.splitlines()), (
            f"no row for {client!r}:\n{done.stdout}"
        )
    assert "target: ours (ws, edn)" in done.stdout


def test_bench_packers_quick_measures_the_compiled_and_the_pure_edn_packer() -> None:
    done = run_quick("bench_packers.py")
    assert SPEEDUPS in done.stdout, done.stdout
    ops = {line[11:27].strip() for line in done.stdout.splitlines()}
    expected = {"edn pure unpack", "edn pure pack", "json unpack", "json pack"}
    if SPEEDUPS.endswith(": built"):
        expected |= {"edn unpack", "edn pack"}
    assert expected <= ops, done.stdout
