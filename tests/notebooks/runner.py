"""Run an example notebook, cell by cell, in a kernel started by a real Jupyter server.

The kernel is started through the server's REST API (``POST /api/sessions``), as JupyterLab
does, so it inherits the loopback URL and kernel secret the extension exports. nbclient then
drives it over ZMQ, from the connection file the server wrote in its runtime directory: the
code is executed by the very kernel a browser would use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.asynchronous import AsyncKernelClient
from nbclient import NotebookClient

from tests.e2e.jupyter_process import JupyterProcess, S


class ServerKernel:
    """The part of a kernel manager nbclient uses, for a kernel the Jupyter server owns."""

    has_kernel = True

    def __init__(self, connection_file: Path) -> None:
        self.connection_file = connection_file

    def client(self) -> AsyncKernelClient:
        kc = AsyncKernelClient()
        kc.load_connection_file(str(self.connection_file))
        return kc

    # nbclient's cleanup after a failure: it must not shut the kernel down behind the server's
    # back (notebook_run asks the server to), nor remove the server's files.
    async def is_alive(self) -> bool:
        return False

    def cleanup_resources(self) -> None:
        pass


class NotebookRun:
    """A notebook being executed: run its cells in order, read their outputs by cell id."""

    def __init__(self, client: NotebookClient) -> None:
        self.client = client
        self.nb = client.nb
        self.next_index = 0

    def index(self, cell_id: str) -> int:
        """The position of the cell with id ``cell_id``."""
        for i, cell in enumerate(self.nb.cells):
            if cell.get("id") == cell_id:
                return i
        raise KeyError(f"no cell with id {cell_id!r}")

    async def run_through(self, cell_id: str | None = None) -> None:
        """Run the next cells up to and including ``cell_id`` (None: to the end)."""
        last = len(self.nb.cells) - 1 if cell_id is None else self.index(cell_id)
        while self.next_index <= last:
            i = self.next_index
            self.next_index += 1
            await self.client.async_execute_cell(self.nb.cells[i], i)

    async def run_until(self, cell_id: str) -> None:
        """Run the next cells up to, not including, ``cell_id``."""
        stop = self.index(cell_id)
        if stop > self.next_index:
            await self.run_through(self.nb.cells[stop - 1].id)

    def outputs(self, cell_id: str) -> list[Any]:
        """The outputs of a cell that ran."""
        return list(self.nb.cells[self.index(cell_id)].outputs)

    def text(self, cell_id: str) -> str:
        """What a cell printed and returned, as text (streams, then ``text/plain`` results)."""
        parts = []
        for out in self.outputs(cell_id):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.data.get("text/plain", ""))
        return "".join(parts)

    def mimetypes(self, cell_id: str) -> list[str]:
        """The rich output types of a cell (a widget shows as ``application/vnd.jupyter.widget-view+json``)."""
        return [
            m
            for out in self.outputs(cell_id)
            if out.output_type in ("execute_result", "display_data")
            for m in out.data
        ]


@asynccontextmanager
async def notebook_run(
    jp: JupyterProcess, name: str, *, cell_timeout: float = 60.0
) -> AsyncIterator[NotebookRun]:
    """Start a kernel for notebook ``name`` on server ``jp``; shut it down at the end."""
    session = await asyncio.to_thread(jp.start_session, name)
    try:
        nb = nbformat.read(jp.root_dir / name, as_version=4)
        client = NotebookClient(
            nb,
            km=ServerKernel(jp.connection_file(session["kernel"]["id"])),  # type: ignore[arg-type]
            timeout=int(cell_timeout * S),
            startup_timeout=int(60 * S),
            kernel_name="python3",
        )
        async with client.async_setup_kernel():
            assert client.kc is not None
            try:
                yield NotebookRun(client)
            finally:
                client.kc.stop_channels()
    finally:
        await asyncio.to_thread(jp.api, "DELETE", f"sessions/{session['id']}")
