"""Processor Lambda throughput on one core: handler() end to end against a JSON floor cost.

Batches of 500 realistic replay records (json.dumps lines, base64 in a Firehose event; 1,000
cards that come back, in event-time order) go through ``handler.handler``, which validates,
tokenises, scores each record with the bundled fraud model and its card's in-memory history,
and explains the flagged ones; the baseline does only base64 + json.loads + json.dumps +
base64 for the same records, the least any JSON transformation can cost.

    .venv/bin/python bench/bench_processor.py [--batches 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambda"))

import handler  # noqa: E402
from validate import CATEGORIES  # noqa: E402

BATCH = 500
FIRST = ["Jennifer", "Stephanie", "Edward", "Jeremy", "Tyler", "Renée", "José", "Ana"]
LAST = ["Banks", "Gill", "Sanchez", "White", "Garcia", "Müller", "O'Brien", "Nguyen"]
CITIES = [("Moravian Falls", "NC", "28654", 36.0788, -81.1781, 3495)] + [
    ("Orient", "WA", "99160", 48.8878, -118.2105, 149),
    ("Malad City", "ID", "83252", 42.1808, -112.262, 4154),
    ("Boulder", "MT", "59632", 46.2306, -112.1138, 1939),
    ("Doe Hill", "VA", "24433", 38.4207, -79.4629, 99),
]


CARDS = 1_000  # cards come back, so every record is scored against a history
START = datetime(2019, 1, 1)


def realistic_record(i: int, rng: random.Random) -> dict[str, Any]:
    city, state, zip_code, lat, lon, pop = rng.choice(CITIES)
    # ~2,300 transactions a day across the cards, in event-time order, as a replay sends them.
    when = START + timedelta(seconds=i * 37 + rng.randrange(37))
    return {
        "row_id": i,
        "trans_date_trans_time": when.strftime("%Y-%m-%d %H:%M:%S"),
        "cc_num": str(4_000_000_000_000_000 + rng.randrange(CARDS) * 7_919),
        "merchant": f"fraud_{rng.choice(LAST)}, {rng.choice(LAST)} and {rng.choice(LAST)}",
        "category": rng.choice(CATEGORIES),
        "amt": round(rng.lognormvariate(3.8, 1.0), 2),
        "first": rng.choice(FIRST),
        "last": rng.choice(LAST),
        "gender": rng.choice("MF"),
        "street": f"{rng.randrange(1, 9999)} {rng.choice(LAST)} Cove",
        "city": city,
        "state": state,
        "zip": zip_code,
        "lat": lat,
        "long": lon,
        "city_pop": pop,
        "job": "Psychologist, counselling",
        "dob": f"{rng.randrange(1930, 2003)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        "trans_num": f"{rng.getrandbits(128):032x}",
        "unix_time": int(when.timestamp()) - 220_898_664,
        "merch_lat": lat + rng.uniform(-1, 1),
        "merch_long": lon + rng.uniform(-1, 1),
        "is_fraud": int(rng.random() < 0.006),
    }


def make_events(batches: int, bad_share: float, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for b in range(batches):
        records = []
        for j in range(BATCH):
            i = b * BATCH + j
            line = json.dumps(realistic_record(i, rng)) + "\n"
            if rng.random() < bad_share:
                line = line.replace('"amt": ', '"amt": -', 1)
            data = base64.b64encode(line.encode()).decode("ascii")
            records.append(
                {"recordId": f"{i:056d}", "approximateArrivalTimestamp": 0, "data": data}
            )
        events.append({"invocationId": f"bench-{b}", "records": records})
    return events


def floor_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The least a JSON transformation costs: decode, parse, serialise, encode."""
    out = []
    for r in event["records"]:
        obj = json.loads(base64.b64decode(r["data"]))
        data = base64.b64encode((json.dumps(obj) + "\n").encode()).decode("ascii")
        out.append({"recordId": r["recordId"], "result": "Ok", "data": data})
    return {"records": out}


def measure(fn: Callable[[dict, Any], dict], events: list[dict], repeats: int) -> float:
    """Best records/s over ``repeats`` passes through every event."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for ev in events:
            fn(ev, None)
        best = min(best, time.perf_counter() - start)
    return len(events) * BATCH / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="batches of 500 per pass")
    parser.add_argument("--repeats", type=int, default=3, help="passes; the best counts")
    args = parser.parse_args(argv)

    os.environ.setdefault(handler.CARD_TOKEN_KEY_ENV, "bench-card-token-key-0123456789")
    # Log lines are formatted and written as on Lambda, to a sink instead of CloudWatch.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115

    clean = make_events(args.batches, 0.0)
    mixed = make_events(args.batches, 0.10)
    check = handler.handler(clean[0], None)["records"]
    assert all(r["result"] == "Ok" for r in check), "benchmark records must be valid"

    rows = [
        (
            "baseline: b64 + json.loads + json.dumps + b64",
            measure(floor_handler, clean, args.repeats),
        ),
        ("handler(), all records valid", measure(handler.handler, clean, args.repeats)),
        ("handler(), 10% invalid", measure(handler.handler, mixed, args.repeats)),
    ]
    floor = rows[0][1]
    records = args.batches * BATCH
    print(
        f"processor throughput, one core, {records} records in batches of {BATCH}, "
        f"best of {args.repeats}"
    )
    print(f"{'path':<48} {'records/s':>11} {'us/record':>10} {'vs baseline':>12}")
    for name, rate in rows:
        print(f"{name:<48} {rate:>11,.0f} {1e6 / rate:>10.1f} {rate / floor:>11.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
