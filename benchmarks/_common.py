"""What the server benchmarks share: process limits and costs, the stats endpoint, pacing, verdicts."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import resource
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any


def raise_fd_limit() -> None:
    """Let this process hold as many sockets as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_seconds() -> float:
    """This process's CPU time so far (user + system)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def rss_bytes() -> int:
    """This process's resident set size now."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil  # type: ignore[import-untyped]  # not Linux: psutil knows

        return int(psutil.Process().memory_info().rss)


def stats_handler(extra: Callable[[], dict[str, float]] | None = None) -> Any:
    """A Tornado handler for ``/_bench/stats``: this server's CPU and RSS (``?gc=1``: after a GC)."""
    import tornado.web

    class StatsHandler(tornado.web.RequestHandler):
        def get(self) -> None:
            if self.get_argument("gc", None):
                gc.collect()
            self.write({"cpu": cpu_seconds(), "rss": rss_bytes(), **(extra() if extra else {})})

    return StatsHandler


async def serve_until_sigterm(app: Any) -> None:
    """Serve the Tornado ``app`` on a free loopback port, printed as ``PORT <n>``, until SIGTERM."""
    import tornado.httpserver
    import tornado.netutil

    # one listen backlog for every server, deep enough for a connect storm
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", backlog=4096)
    http = tornado.httpserver.HTTPServer(app)
    http.add_sockets(sockets)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"PORT {sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    http.stop()


async def send_paced(
    frames: Sequence[str], rate: float | None, send: Callable[[str], None], sent_at: list[float]
) -> float:
    """Send ``frames`` at ``rate``/s (None: at once), noting each one's time; returns the start."""
    t0 = time.perf_counter()
    for seq, frame in enumerate(frames):
        if rate is not None:
            delay = t0 + seq / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        sent_at[seq] = time.perf_counter()
        send(frame)
    return t0


def print_verdicts(verdicts: list[tuple[bool, str]]) -> int:
    """Print each target as PASS or FAIL and a summary; the exit status (1: one was missed)."""
    for ok, line in verdicts:
        print(f"{'PASS' if ok else 'FAIL':<5} {line}")
    missed = sum(not ok for ok, _ in verdicts)
    print(f"{missed} target(s) missed" if missed else "all targets met")
    return 1 if missed else 0
