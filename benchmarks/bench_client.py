"""Request/reply round trips of the Python client against a bare ``websockets`` client.

The server (jupyter-sente's own, Tornado host, an echo handler) runs in a separate process,
so the CPU measured here (``time.process_time`` of this process) is the client's alone. Both
clients do the same exchange with the same literal frames, one request in flight:

* bare: ``ws.send('[[:bench/echo {:x 1, :msg "hello"}] "a1b2c3"]')`` then ``await ws.recv()``
  (the frame is packed once, before timing; the reply is not parsed);
* ours: ``await client.request(("bench/echo", {...}))`` (pack, cb-id, reply table, unpack).

Target: with the default EDN packer, our client's CPU per round trip at most 1.5x the bare
client's; the exit status is 1 when it is missed. The header says whether the EDN packer's
compiled speedups are built (the target is for the package as installed, with them; without
them the pure-Python reader and writer put the client at about 1.6-1.9x). The same pair with
the JSON packer is shown for context. A diagnostic pair runs with the client and a server of
its own on one CPU (Linux): the CPU then does not go idle between a request and its reply.
On an idle two-CPU machine that pair's ratio is lower than the default runs' (there, Python
code costs several times its time in a warm timeit loop, as the caches go cold between
messages); the target is checked on the default runs only.
Run: ``python benchmarks/bench_client.py [--n 5000] [--rounds 3]`` (``--quick``: a smoke run whose
figures are too small to judge).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

TARGET = 1.5
CB_ID = "a1b2c3"


def bench_event() -> tuple[str, object]:
    from jupyter_sente.values import kw

    return ("bench/echo", {kw("x"): 1, kw("msg"): "hello"})


# -- the server process --------------------------------------------------------------------------


async def serve(packer: str) -> None:
    from jupyter_sente.server import ChannelSocketServer
    from jupyter_sente.tornado import listen, make_app

    server = ChannelSocketServer(
        csrf_token_fn=None, user_id_fn=lambda request: "bench", packer=packer
    )

    @server.on("bench/echo")
    def echo(msg: object) -> None:
        msg.reply(msg.data)  # type: ignore[attr-defined]

    http, port = listen(make_app(server))
    print(port, flush=True)
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    # the parent closes our stdin to stop us
    loop.add_reader(sys.stdin.fileno(), lambda: done.done() or done.set_result(None))  # type: ignore[func-returns-value]
    await done
    server.close()
    http.stop()


# -- the clients ---------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    n: int
    wall_s: float
    cpu_s: float

    @property
    def per_s(self) -> float:
        return self.n / self.wall_s

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.n * 1e6


async def measure(name: str, n: int, run: Callable[[int], Awaitable[None]]) -> Result:
    await run(min(500, n))  # warm up
    wall, cpu = time.perf_counter(), time.process_time()
    await run(n)
    return Result(name, n, time.perf_counter() - wall, time.process_time() - cpu)


async def bare_ws(url: str, n: int, packer: str = "edn") -> Result:
    from websockets.asyncio.client import connect

    from jupyter_sente.client._events import to_event
    from jupyter_sente.packers import get_packer

    frame = get_packer(packer).pack([to_event(bench_event()), CB_ID])
    tail = frame[frame.rindex(CB_ID) - 1 :]  # the reply ends like the request: "a1b2c3"]
    async with connect(
        url.replace("http://", "ws://") + "?client-id=bare-bench",
        ping_interval=None,
        max_size=None,
        proxy=None,
    ) as ws:
        handshake = await ws.recv()
        assert "chsk/handshake" in str(handshake), handshake

        async def run(k: int) -> None:
            for _ in range(k):
                await ws.send(frame)
                reply = await ws.recv(decode=True)
                assert reply.endswith(tail), reply

        return await measure(f"bare websockets ({packer})", n, run)


async def ours(url: str, n: int, type: str = "ws", packer: str = "edn") -> Result:
    from jupyter_sente.client import Client

    event = bench_event()
    async with Client(url, type=type, packer=packer) as client:  # type: ignore[arg-type]
        assert client.transport == type

        async def run(k: int) -> None:
            for _ in range(k):
                await client.request(event, 5.0)

        return await measure(f"jupyter-sente Client ({type}, {packer})", n, run)


class CannedPacker:
    """A diagnostic packer that parses nothing: the frame is a template, the reply is sliced.

    With it the client does everything but packing, which shows what the client itself costs
    apart from the packer (handshakes and pushes still go to the real packer).
    """

    name = "edn"

    def __init__(self) -> None:
        from jupyter_sente.client._events import to_event
        from jupyter_sente.packers import get_packer

        self._real = get_packer("edn")
        frame = self._real.pack([to_event(bench_event()), CB_ID])
        self._template = frame.replace(CB_ID, "%s")

    def pack(self, value: object) -> str:
        cb = value[1] if isinstance(value, list) else None
        return self._template % cb if isinstance(cb, str) else self._real.pack(value)

    def unpack(self, text: str) -> object:
        if text.endswith('"]') and not text.startswith("[[:chsk"):
            return ["reply", text[-8:-2]]
        return self._real.unpack(text)


async def ours_canned(url: str, n: int) -> Result:
    from jupyter_sente.client import Client

    event = bench_event()
    async with Client(url, type="ws", packer=CannedPacker()) as client:

        async def run(k: int) -> None:
            for _ in range(k):
                await client.request(event, 5.0)

        return await measure("  diagnostic: same, packing skipped", n, run)


def ours_threaded(url: str, n: int) -> Result:
    from jupyter_sente.client import ThreadedClient

    event = bench_event()
    with ThreadedClient(url, type="ws") as client:
        for _ in range(min(500, n)):
            client.request(event, 5.0)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            client.request(event, 5.0)
        return Result(
            "ThreadedClient (ws, edn; thread hop)",
            n,
            time.perf_counter() - wall,
            time.process_time() - cpu,
        )


def best(results: list[Result]) -> Result:
    """The round with the median CPU per round trip (robust on a shared machine)."""
    return sorted(results, key=lambda r: r.cpu_us)[len(results) // 2]


def start_server(packer: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", packer],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/chsk"


def pair(url: str, n: int, rounds: int, packer: str) -> tuple[Result, Result, float]:
    """(bare, ours, spread of our rounds), rounds interleaved so load changes hit both alike."""
    bare, mine = [], []
    for _ in range(rounds):
        bare.append(asyncio.run(bare_ws(url, n, packer)))
        mine.append(asyncio.run(ours(url, n, "ws", packer)))
    cpus = [r.cpu_us for r in mine]
    return best(bare), best(mine), statistics.pstdev(cpus) / statistics.mean(cpus)


def one_cpu_pair(n: int, rounds: int) -> tuple[Result, Result] | None:
    """The EDN pair with this process and a server of its own pinned to one CPU (Linux only)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    mask = os.sched_getaffinity(0)
    cpu = min(mask)
    proc, url = start_server("edn")
    try:
        os.sched_setaffinity(proc.pid, {cpu})
        os.sched_setaffinity(0, {cpu})
        bare, mine, _ = pair(url, n, rounds, "edn")
    finally:
        os.sched_setaffinity(0, mask)
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(10)
    bare.name = "  diagnostic: bare, one CPU for both"
    mine.name = "  diagnostic: ours, one CPU for both"
    return bare, mine


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="round trips per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per client (median)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: --n 300 --rounds 1")
    parser.add_argument("--serve", choices=["edn", "json"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.n, args.rounds = 300, 1
    if args.serve:
        asyncio.run(serve(args.serve))
        return 0

    servers = {packer: start_server(packer) for packer in ("edn", "json")}
    try:
        url = servers["edn"][1]
        bare, mine, spread = pair(url, args.n, args.rounds, "edn")
        bare_json, mine_json, _ = pair(servers["json"][1], args.n, args.rounds, "json")
        canned = best([asyncio.run(ours_canned(url, args.n)) for _ in range(args.rounds)])
        rows = [(bare, bare), (mine, bare), (canned, bare)]
        rows += [(bare_json, bare_json), (mine_json, bare_json)]
        ajax = asyncio.run(ours(url, max(200, args.n // 10), "ajax"))
        threaded = ours_threaded(url, max(200, args.n // 5))
        rows += [(ajax, bare), (threaded, bare)]
    finally:
        for proc, _ in servers.values():
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(10)
    one_cpu = one_cpu_pair(args.n, args.rounds)
    if one_cpu is not None:
        rows += [(one_cpu[0], one_cpu[0]), (one_cpu[1], one_cpu[0])]

    from jupyter_sente.packers import get_packer

    built = "built" if getattr(get_packer("edn"), "accelerated", False) else "NOT built"
    print(f"EDN compiled speedups: {built}")
    print(f"{'client':38} {'round trips/s':>14} {'CPU us/rt':>10} {'CPU ratio':>10}")
    for r, base in rows:
        ratio = r.cpu_us / base.cpu_us
        print(f"{r.name:38} {r.per_s:14,.0f} {r.cpu_us:10.1f} {ratio:9.2f}x")
    print(
        "(ratios: to the bare client with the same packer's frames; ajax and thread: to bare edn;"
        " one CPU: to bare on one CPU)"
    )
    ratio = mine.cpu_us / bare.cpu_us
    ok = ratio <= TARGET
    print(
        f"\ntarget: ours (ws, edn) CPU per round trip <= {TARGET}x bare: {ratio:.2f}x "
        f"{'OK' if ok else 'MISSED'} (spread of our rounds {spread:.0%})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
