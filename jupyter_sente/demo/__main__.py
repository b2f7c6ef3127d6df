"""``python -m jupyter_sente.demo``: serve Sente's example project on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from jupyter_sente.demo import make_app
from jupyter_sente.tornado import listen


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m jupyter_sente.demo", description="jupyter-sente's example project"
    )
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--packer", choices=("edn", "json"), default="edn")
    parser.add_argument("--lp-timeout-ms", type=int, default=20_000, help="long-poll hold")
    parser.add_argument(
        "--ws-kalive-ms", type=int, default=25_000, help="server keep-alive (ticks at half)"
    )
    parser.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="URL",
        help="allow only these origins (repeatable; default: all)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    app = make_app(
        packer=args.packer,
        lp_timeout_ms=args.lp_timeout_ms,
        ws_kalive_ms=args.ws_kalive_ms,
        allowed_origins=args.allowed_origin or "all",
    )
    http, port = listen(app, args.port)
    print(f"jupyter-sente demo: http://127.0.0.1:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    http.stop()
    app.settings["demo"].close()
    await http.close_all_connections()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
