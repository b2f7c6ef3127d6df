"""02-live-dashboard.ipynb with two people: alice in Notebook 7 runs the stream, bob in
JupyterLab watches it and steers it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.conftest import Person
from tests.e2e.pages import (
    PW_S,
    dataset,
    kernel_status,
    open_notebook,
    run_cells,
    send_chat,
    wait_chat_line,
    wait_connected,
    widget,
)

pytestmark = pytest.mark.browser

NOTEBOOK = "02-live-dashboard.ipynb"

# true once the plot's data-points attribute reaches `n` (a reading is a point per series)
POINTS_AT_LEAST = """([sel, n]) => Number(document.querySelector(sel)?.dataset.points ?? 0) >= n"""
# true once the legend shows series `name` at a value beyond `limit`
LEGEND_BEYOND = """([name, limit]) => {
  const item = document.querySelector(`.jps-liveplot .jps-legend-item[data-name="${name}"]`);
  const value = Number(item?.textContent.split(" ").pop());
  return Math.abs(value) > limit;
}"""


def test_bobs_live_plot_follows_alices_kernel_even_while_it_is_busy(
    people: Callable[[str], Person],
) -> None:
    alice, bob = people("alice"), people("bob")
    open_notebook(alice.page, alice.nb7_url(NOTEBOOK))
    cells = ("connect", "stream", "plot", "control", "control-handler")
    assert run_cells(alice.page, NOTEBOOK, *cells) == ["ok"] * len(cells)
    wait_connected(alice.page, "liveplot")

    open_notebook(bob.page, bob.lab_url(NOTEBOOK))
    assert run_cells(bob.page, NOTEBOOK, "plot", "control") == ["ok", "ok"]
    wait_connected(bob.page, "liveplot")
    plot = widget(bob.page, "liveplot")
    bob.page.wait_for_function(POINTS_AT_LEAST, arg=[".jps-liveplot", 10])
    assert dataset(plot, "series") == "2"
    names = plot.locator(".jps-legend-item").evaluate_all("els => els.map(e => e.dataset.name)")
    assert sorted(names) == ["clean", "signal"]

    # alice's kernel sleeps in a cell for 3 s; its stream thread keeps bob's plot moving
    run_cells(alice.page, NOTEBOOK, "busy", wait=False)
    alice.page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="busy"]')
    points = int(dataset(plot, "points"))
    bob.page.wait_for_function(POINTS_AT_LEAST, arg=[".jps-liveplot", points + 10])
    assert kernel_status(alice.page) == "busy"
    bob.shot("dashboard-1-bob-lab-plot-while-alice-busy", plot)

    # bob steers the stream from his control box; the kernel applies it and says so
    send_chat(bob.page, "amp 4")
    for person in (alice, bob):
        line = wait_chat_line(person.page, r"amp = 4 \(asked by Bob\)")
        assert line.get_attribute("data-kind") == "kernel"
    bob.page.wait_for_function(LEGEND_BEYOND, arg=["clean", 1.5], timeout=10 * PW_S)
    bob.shot("dashboard-2-bob-lab-after-amp-4", plot)
    alice.shot("dashboard-3-alice-nb7-plot-and-control", widget(alice.page, "liveplot"))

    assert run_cells(alice.page, NOTEBOOK, "stop") == ["ok"]
