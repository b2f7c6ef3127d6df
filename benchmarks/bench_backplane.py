"""Backplane cost: fan-out over two servers sharing a Redis against the same fan-out on one server.

Run ``python benchmarks/bench_backplane.py`` (``--quick`` for a short smoke run; needs
``redis-server`` on the PATH and the ``redis`` extra). It starts its own redis-server on a
free port, and every channel-socket server in its own subprocess (``--serve``), so that the
CPU time each reports (``resource.getrusage`` over a small HTTP endpoint, as in
``bench_server.py``, whose client and fan-out sink it reuses) is its own.

Two setups get the same S subscribers and the same messages:

* ``one server``: S WebSockets on one ``ChannelSocketServer``, no backplane.
* ``two + Redis``: S/2 WebSockets on each of two servers attached to the Redis backplane
  (``attach_backplane``, plus a ``RoomFederation`` for rooms); the publisher is on the first.

Scenarios: ``broadcast`` (the publisher's event makes its server call ``server.broadcast``:
local delivery, and one Redis message for the other server to deliver) and ``room`` (every
subscriber joins one room; the publisher publishes to it with ``:include-self? true``; the
publish reaches the other server's members through the federation). Each is run paced
(``--rate`` messages/s) and as a burst. A delivered event is one event received by one
subscriber; latency is from the publisher's write to the subscriber's read.

The target, checked at the end (exit status 1 if missed): the servers' CPU per delivered
event with two servers (both servers' CPU summed) is at most 2x the one server's, and no
message is lost. Redis's own CPU is shown, not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_server as bs  # the sibling benchmark: its client and sink
from _common import (
    cpu_seconds,
    print_verdicts,
    raise_fd_limit,
    send_paced,
    serve_until_sigterm,
    stats_handler,
)

#: The target: CPU per delivered event, two servers (summed) over one server.
MAX_RATIO = 2.0
ROOM = "bench"
SETUPS = ("one server", "two + Redis")


# -- the servers: `bench_backplane.py --serve ...` -------------------------------------------


async def _serve(redis_url: str | None, server_id: str, namespace: str) -> None:
    import tornado.web

    from jupyter_sente.backplane import RedisBackplane
    from jupyter_sente.rooms.attach import attach_rooms
    from jupyter_sente.rooms.federation import RoomFederation
    from jupyter_sente.server import ChannelSocketServer, EventMsg, RequestInfo, attach_backplane
    from jupyter_sente.tornado import channel_socket_routes
    from jupyter_sente.values import kw

    def uid_param(request: RequestInfo) -> str | None:
        return request.param("uid")

    server = ChannelSocketServer(csrf_token_fn=None, user_id_fn=uid_param)
    hub = attach_rooms(server)
    msg_id = kw("bench/msg")

    @server.on("bench/publish")
    def publish(msg: EventMsg) -> None:
        server.broadcast([msg_id, msg.data])

    federation = None
    if redis_url is not None:
        backplane = RedisBackplane(redis_url, server_id=server_id, namespace=namespace)
        federation = RoomFederation(hub, attach_backplane(server, backplane))
        await federation.start()
        if not await backplane.wait_connected(10):
            raise SystemExit(f"{server_id}: no connection to {redis_url}")

    def dropped() -> dict[str, float]:
        health = server.backplane.health() if server.backplane is not None else None
        return {"dropped": 0 if health is None else health.dropped_while_down}

    app = tornado.web.Application(
        [("/_bench/stats", stats_handler(dropped)), *channel_socket_routes(server, "/chsk")]
    )
    await serve_until_sigterm(app)
    if federation is not None:
        await federation.stop()
    hub.close()
    server.close()


class ServerProc(bs.ServerProc):
    """One server subprocess of this benchmark (``stats`` and the rest as in bench_server)."""

    def __init__(self, redis_url: str | None, server_id: str, namespace: str) -> None:
        super().__init__("ours", argparse.Namespace(profile=None))
        self.cmd = [sys.executable, __file__, "--serve", server_id, "--namespace", namespace]
        if redis_url is not None:
            self.cmd += ["--redis", redis_url]

    async def __aenter__(self) -> ServerProc:
        self.proc = await asyncio.create_subprocess_exec(*self.cmd, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if not line.startswith(b"PORT "):
            raise RuntimeError(f"server {self.cmd[3]} did not start: {line!r}")
        self.port = int(line.split()[1])
        return self


class Redis:
    """A redis-server of our own on a free port, without persistence."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.proc = subprocess.Popen(
            [
                *(exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--dir", self.dir),
                *("--logfile", os.path.join(self.dir, "redis.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                break
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("redis-server did not start")
            time.sleep(0.02)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def cpu(self) -> float:
        """Its CPU seconds so far (Linux: /proc), or NaN."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


# -- the client ------------------------------------------------------------------------------


@dataclass
class Row(bs.Result):
    """A scenario on one setup, with Redis's CPU."""

    redis_cpu: float = 0.0
    dropped: int = 0

    @property
    def redis_per(self) -> float:
        return self.redis_cpu / self.delivered * 1e6 if self.delivered else float("nan")


class Joined(bs.Sink):
    """Counts the join replies; everything else (presence) is ignored."""

    def __init__(self, n: int) -> None:
        self.count = 0
        self.n = n
        self.done = asyncio.Event()

    def events(self, conn: bs.WsConn, seqs: list[str], now: float) -> None:
        pass

    def reply(self, conn: bs.WsConn, rid: str, now: float) -> None:
        self.count += 1
        if self.count >= self.n:
            self.done.set()


def room_frame(seq: int) -> str:
    event = f'[:bench/msg {{:seq {seq}, :body "{bs.BODY}"}}]'
    return f'[[:sente.room/publish {{:room "{ROOM}", :event {event}, :include-self? true}}] nil]'


async def join_room(conns: list[bs.WsConn]) -> None:
    sink = Joined(len(conns))
    for c in conns:
        c.sink = sink
    for i, c in enumerate(conns):
        c.send_text(f'[[:sente.room/join {{:room "{ROOM}"}}] "{i & 0xFFFFFF:06x}"]')
    await asyncio.wait_for(sink.done.wait(), 60)
    for c in conns:
        c.sink = bs.IGNORE


async def fanout(
    servers: list[ServerProc],
    redis: Redis,
    conns: list[bs.WsConn],
    *,
    name: str,
    setup: str,
    n_msgs: int,
    rate: float | None,
    room: bool,
) -> Row:
    """``conns[0]`` publishes ``n_msgs`` (at ``rate``/s, or at once); every subscriber gets each."""
    sink = bs.FanoutSink(conns, n_msgs)
    for c in conns:
        c.sink = sink
    pub = conns[0]
    frames = [room_frame(s) if room else pub.flavour.publish(s) for s in range(n_msgs)]
    before = [await s.stats() for s in servers]
    redis0, cli0 = redis.cpu(), cpu_seconds()
    t0 = await send_paced(frames, rate, pub.send_text, sink.sent_at)
    await sink.progress.wait()
    cli1, redis1 = cpu_seconds(), redis.cpu()
    after = [await s.stats() for s in servers]
    for c in conns:
        c.sink = bs.IGNORE
    return Row(
        scenario=name,
        target=setup,
        unit="event",
        delivered=sum(sum(seen) for seen in sink.seen),
        expected=len(conns) * n_msgs,
        seconds=sink.progress.last - t0,
        latencies=sink.latencies,
        server_cpu=sum(a["cpu"] - b["cpu"] for a, b in zip(after, before, strict=True)),
        client_cpu=cli1 - cli0,
        duplicates=sink.duplicates,
        offered=None if rate is None else rate * len(conns),
        redis_cpu=redis1 - redis0 if len(servers) > 1 else 0.0,
        dropped=int(sum(a["dropped"] - b["dropped"] for a, b in zip(after, before, strict=True))),
    )


@dataclass(frozen=True)
class Sizes:
    subscribers: int
    room_subscribers: int
    rate: float
    paced_s: float
    burst: int


FULL = Sizes(subscribers=200, room_subscribers=100, rate=50, paced_s=3, burst=200)
QUICK = Sizes(subscribers=20, room_subscribers=10, rate=50, paced_s=0.6, burst=40)


async def scenario_group(setup: str, room: bool, redis: Redis, z: Sizes) -> list[Row]:
    """Paced and burst fan-out on one setup (fresh server processes)."""
    n = z.room_subscribers if room else z.subscribers
    flavour = bs.FLAVOURS["ours"]()
    namespace = f"bench{secrets.token_hex(3)}"
    urls = [None] if setup == SETUPS[0] else [redis.url, redis.url]
    kind = "room" if room else "broadcast"
    async with contextlib.AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(ServerProc(url, f"s{i}", namespace))
            for i, url in enumerate(urls)
        ]
        share = n // len(servers)
        conns: list[bs.WsConn] = []
        for i, server in enumerate(servers):
            got, failed = await bs.connect_all(server, flavour, range(i * share, (i + 1) * share))
            if failed:
                raise RuntimeError(f"{setup}: {failed} subscribers failed to connect")
            conns += got
        if room:
            await join_room(conns)

        async def run_fanout(name: str, n_msgs: int, rate: float | None) -> Row:
            return await fanout(
                servers, redis, conns, name=name, setup=setup, n_msgs=n_msgs, rate=rate, room=room
            )

        # warm up until a message reaches everyone (presence settled across the servers)
        for _ in range(20):
            warm = await run_fanout("warm-up", 2, None)
            if warm.lost == 0:
                break
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError(f"{setup} {kind}: the warm-up never reached every subscriber")
        n_paced = max(1, round(z.rate * z.paced_s))
        rows = [
            await run_fanout(f"{kind} S={n} paced", n_paced, z.rate),
            await run_fanout(f"{kind} S={n} burst", z.burst, None),
        ]
        await bs.close_all(conns)
    return rows


def report(rows: list[Row]) -> int:
    by = {(r.scenario, r.target): r for r in rows}
    scenarios = list(dict.fromkeys(r.scenario for r in rows))
    print()
    print(
        f"{'scenario':<24} {'setup':<12} {'delivered':>9} {'per s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'lost':>5} {'srv µs':>7} {'vs one':>7} {'redis µs':>8} {'cli µs':>7}"
    )
    print("(µs: CPU per delivered event; srv = every server of the setup, summed)")
    for scenario in scenarios:
        one = by.get((scenario, SETUPS[0]))
        for setup in SETUPS:
            r = by.get((scenario, setup))
            if r is None:
                continue
            ratio = r.cpu_per / one.cpu_per if one is not None and one.delivered else float("nan")
            redis = f"{r.redis_per:>8.1f}" if setup != SETUPS[0] else f"{'-':>8}"
            print(
                f"{scenario:<24} {setup:<12} {r.delivered:>9} {r.rate:>8.0f} {r.pct(0.5):>7.1f} "
                f"{r.pct(0.99):>7.1f} {r.lost:>5} {r.cpu_per:>7.1f} {ratio:>6.2f}x {redis} "
                f"{r.client_cpu_per:>7.1f}"
            )
    for r in rows:
        if r.duplicates:
            print(f"note: {r.target} {r.scenario}: {r.duplicates} duplicate deliveries")
        if r.dropped:
            print(f"note: {r.target} {r.scenario}: the backplane dropped {r.dropped} messages")
        if r.offered and r.rate < 0.9 * r.offered:
            print(
                f"note: {r.target} did not keep pace in {r.scenario} ({r.rate:.0f} of "
                f"{r.offered:.0f} events/s)"
            )
    print()
    verdicts: list[tuple[bool, str]] = []
    for scenario in scenarios:
        one, two = by.get((scenario, SETUPS[0])), by.get((scenario, SETUPS[1]))
        for r in (one, two):
            if r is not None:
                verdicts.append((r.lost == 0, f"{scenario}, {r.target}: lost {r.lost}"))
        if one is not None and two is not None:
            ratio = two.cpu_per / one.cpu_per
            verdicts.append(
                (
                    ratio <= MAX_RATIO,
                    f"{scenario}: two servers' CPU per event {ratio:.2f}x one server's "
                    f"({two.cpu_per:.1f} vs {one.cpu_per:.1f} µs; target <= {MAX_RATIO:g}x)",
                )
            )
    return print_verdicts(verdicts)


async def run(args: argparse.Namespace) -> int:
    raise_fd_limit()
    z = QUICK if args.quick else FULL
    if args.rate:
        z = Sizes(z.subscribers, z.room_subscribers, args.rate, z.paced_s, z.burst)
    redis = Redis()
    rows: list[Row] = []
    try:
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; rate {z.rate:g}/s")
        started = time.perf_counter()
        # setups alternate inside each scenario: a change of background load hits both
        for room in (False, True):
            for setup in SETUPS:
                what = "room" if room else "broadcast"
                print(f"{time.perf_counter() - started:6.1f}s {what} {setup}", flush=True)
                rows += await scenario_group(setup, room, redis, z)
        print(f"{time.perf_counter() - started:6.1f}s done; load average {os.getloadavg()[0]:.2f}")
    finally:
        redis.stop()
    return report(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small, short smoke run")
    parser.add_argument("--rate", type=float, help="paced fan-out rate in messages/s (default 50)")
    parser.add_argument("--serve", metavar="SERVER_ID", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", default="bench", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        raise_fd_limit()
        asyncio.run(_serve(args.redis, args.serve, args.namespace))
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
