"""A real ``jupyter server`` (subprocess) with jupyter-sente, serving copies of the example notebooks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from jupyter_sente.client import Client
from tests.e2e.identity import BOB_TOKEN
from tests.e2e.jupyter_process import NOTEBOOKS, JupyterProcess, S, copy_notebooks, start_jupyter
from tests.notebooks.peer import RoomPeer

NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterProcess]:
    """The server; its kernels connect back to it as alice."""
    state: Path = tmp_path_factory.mktemp("notebooks-server")
    jp = start_jupyter(
        state, root_dir=copy_notebooks(state / "notebooks", NAMES), base_url="/nb-tests/"
    )
    try:
        yield jp
    finally:
        jp.stop()


@pytest_asyncio.fixture
async def bob(jupyter: JupyterProcess) -> AsyncIterator[RoomPeer]:
    """Bob, as a program on the server's channel socket (token login, no browser)."""
    client = Client(jupyter.chsk_url, headers={"Authorization": f"token {BOB_TOKEN}"})
    await client.start()
    try:
        await client.wait_open(10 * S)
        yield RoomPeer(client)
    finally:
        await client.close()
