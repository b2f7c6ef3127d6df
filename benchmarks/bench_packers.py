"""Packer speed: our EDN packer against edn-format, our JSON packer against stdlib json.

Run ``python benchmarks/bench_packers.py`` (``--quick`` for fewer repeats). Each figure is the
best (minimum) of several timed runs with ``time.perf_counter``; the table gives µs per
operation and the ratio (theirs / ours, higher is better). Our EDN packer runs twice: as
installed (with the compiled speedups when they are built; the header says) and pure Python
(``EdnPacker(accelerate=False)``, the fallback). The EDN targets are checked on both and the
script exits with status 1, naming what was missed, if one is not met:

* unpack of a typical ~150-byte event: at least 20x faster than ``edn_format.loads``;
* unpack of 10-100 KB documents: at least 5x faster than ``edn_format.loads``;
* pack of the same values: at least 3x faster than ``edn_format.dumps``.

The JSON packer's figures are printed beside them (no target): its cost over plain
``json.loads``/``json.dumps`` of the same JSON text.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import edn_format

from jupyter_sente.exceptions import PackError, SenteError
from jupyter_sente.packers import get_packer
from jupyter_sente.packers.edn import EdnPacker
from jupyter_sente.values import kw

EVENT_TEXT = (
    '[[:dash/point {:series "cpu", :x 1712345678901, :y 0.4375, :tags #{:live :host/a}, '
    ':labels ["a" "b" "c"], :ok true}] "a1b2c3"]'
)
TARGET_UNPACK_EVENT = 20.0
TARGET_UNPACK_DOC = 5.0
TARGET_PACK = 3.0


def document(n: int, seed: int = 1) -> list[Any]:
    """A vector of ``n`` maps with strings, numbers, keywords, uuids and instants."""
    rnd = random.Random(seed)
    base = datetime(2024, 4, 5, 12, 0, tzinfo=timezone.utc)
    return [
        {
            kw("id"): uuid.UUID(int=rnd.getrandbits(128)),
            kw("name"): f"item-{i}",
            kw("count"): rnd.randint(0, 10**9),
            kw("score"): rnd.random(),
            kw("kind"): kw(rnd.choice(["metric", "event", "host/log"])),
            kw("at"): base + timedelta(milliseconds=rnd.randint(0, 10**9)),
            kw("tags"): [f"t{j}" for j in range(3)],
            kw("ok"): rnd.random() > 0.5,
        }
        for i in range(n)
    ]


def best_us(fn: Callable[[], Any], budget: float, repeats: int) -> float:
    """Microseconds per call of ``fn``: the minimum over ``repeats`` runs of ~``budget`` s."""
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(budget / once))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    args = parser.parse_args()
    budget, repeats = (0.02, 3) if args.quick else (0.05, 7)

    edn = get_packer("edn")
    pure = EdnPacker(accelerate=False)
    packers = [("edn", edn), ("edn pure", pure)] if edn.accelerated else [("edn pure", edn)]
    cases: list[tuple[str, Any, float]] = [("event", edn.unpack(EVENT_TEXT), TARGET_UNPACK_EVENT)]
    for n in (60, 480):  # about 12 KB and 95 KB of EDN
        value = document(n)
        size = len(edn.pack(value))
        cases.append((f"doc {size // 1000} KB", value, TARGET_UNPACK_DOC))

    rows: list[tuple[str, str, float, float, float]] = []
    missed: list[str] = []
    for name, value, unpack_target in cases:
        text = edn.pack(value)
        assert edn.unpack(text) == pure.unpack(text) == edn_format.loads(text) == value, name
        assert pure.pack(value) == text, name
        theirs = best_us(lambda text=text: edn_format.loads(text), budget, repeats)
        for label, packer in packers:
            ours = best_us(lambda text=text, p=packer: p.unpack(text), budget, repeats)
            rows.append((name, f"{label} unpack", ours, theirs, unpack_target))
        theirs = best_us(lambda value=value: edn_format.dumps(value), budget, repeats)
        for label, packer in packers:
            ours = best_us(lambda value=value, p=packer: p.pack(value), budget, repeats)
            rows.append((name, f"{label} pack", ours, theirs, TARGET_PACK))

    notes: list[str] = []
    try:
        js = get_packer("json")
    except (ImportError, AttributeError, SenteError) as e:
        js = None
        notes.append(f"JSON packer not available ({type(e).__name__}: {e}); no JSON figures")
    if js is not None:
        for name, value, _ in cases:
            try:
                text = js.pack(value)
            except PackError as e:
                notes.append(f"JSON packer cannot pack {name}: {e}")
                continue
            plain = json.loads(text)
            ours = best_us(lambda text=text: js.unpack(text), budget, repeats)
            theirs = best_us(lambda text=text: json.loads(text), budget, repeats)
            rows.append((name, "json unpack", ours, theirs, 0.0))
            ours = best_us(lambda value=value: js.pack(value), budget, repeats)
            theirs = best_us(
                lambda plain=plain: json.dumps(plain, separators=(",", ":")), budget, repeats
            )
            rows.append((name, "json pack", ours, theirs, 0.0))

    built = "built" if edn.accelerated else "NOT built: pure Python only"
    print(f"EDN compiled speedups: {built}")
    print(f"{'case':<10} {'operation':<16} {'ours µs':>10} {'theirs µs':>10} {'ratio':>7}  target")
    print("(edn: theirs = edn_format.loads/dumps; json: theirs = stdlib json.loads/dumps)")
    for name, op, ours, theirs, target in rows:
        ratio = theirs / ours
        verdict = ""
        if target:
            verdict = f">= {target:g}x " + ("ok" if ratio >= target else "MISSED")
            if ratio < target:
                missed.append(f"{op} {name}: {ratio:.1f}x < {target:g}x")
        print(f"{name:<10} {op:<16} {ours:>10.1f} {theirs:>10.1f} {ratio:>6.1f}x  {verdict}")
    for note in notes:
        print("note:", note)
    if missed:
        print("TARGETS MISSED: " + "; ".join(missed), file=sys.stderr)
        return 1
    print("all EDN targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
