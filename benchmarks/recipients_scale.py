"""
Recipient scale: how long, and how much memory, turning a CSV of recipients into the request body takes.

For 10k, 100k and 1M recipients (``firstName,lastName,phone,city``; phones unique and already E.164) it
measures, each in a fresh subprocess:

* naive: ``csv.DictReader`` into a list, then ``json.dumps`` of the whole list; no validation;
* provider: :func:`airflow_provider_ccai.utils.recipients.write_accounts_from_file`, the function
  ``CcaiCreateCampaignOperator`` runs for a file: every phone validated and de-duplicated, names
  checked, ``city`` sent as a ``${city}`` variable (``unmapped_columns="data"``).

Time is the CPU time (user + system, ``time.process_time()``) of that work only, best of ``--repeat``
runs: the machine may be shared, and CPU time does not count waiting for a core; the wall-clock ratio
is printed too. Peak memory is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end minus its value
just before the work (after all imports), in the same subprocess. The naive run does not import
Airflow (see :func:`measure`). A last run sends national numbers ("(415) 555-0100",
``default_region="US"``) through full ``phonenumbers`` parsing.

Run: ``make benchmarks`` or ``python benchmarks/recipients_scale.py [--sizes 10000,100000] [--national 100000]``.
The files are written to a temporary directory and deleted afterwards.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

AREA_CODES = ("212", "415", "312", "617", "206", "303", "512", "404", "305", "702")
FIRST_NAMES = ("Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "John")
LAST_NAMES = ("Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen")
CITIES = ("New York", "San Francisco", "Chicago", "Boston", "Seattle", "Denver", "Austin", "Atlanta", "Miami")
#: A prime: i -> i * STRIDE mod 8,000,000 visits every exchange/line pair once, in a scrambled order.
STRIDE = 2654435761


def write_csv(path: str, size: int, national: bool) -> None:
    """Write ``size`` recipients with unique US numbers, E.164 or in national format."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["firstName", "lastName", "phone", "city"])
        for i in range(size):
            j = i * STRIDE % 8_000_000
            area, exchange, line = AREA_CODES[i % 10], 200 + j // 10_000, j % 10_000
            phone = f"({area}) {exchange:03d}-{line:04d}" if national else f"+1{area}{exchange:03d}{line:04d}"
            writer.writerow([f"{FIRST_NAMES[i % 10]}{i}", LAST_NAMES[i % 9], phone, CITIES[i % 9]])


def _max_rss() -> int:
    """Peak resident set size of this process in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def measure(method: str, path: str, region: str | None) -> dict[str, Any]:
    """
    Run one measurement in this (fresh) process.

    The naive run does not import Airflow: with Airflow's objects in the heap, the garbage collector
    would slow down building a million dicts several-fold and flatter the provider.
    """
    import io

    if method != "naive":
        from airflow_provider_ccai.utils.recipients import write_accounts_from_file

    baseline = _max_rss()
    start, start_cpu = time.perf_counter(), time.process_time()
    if method == "naive":
        with open(path, newline="", encoding="utf-8") as handle:
            body: Any = json.dumps(list(csv.DictReader(handle)))
        count = None
    else:
        out = io.BytesIO()
        report = write_accounts_from_file(path, out, default_region=region, unmapped_columns="data")
        body = out.getvalue()
        count = report.count
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start
    return {"cpu": cpu, "wall": wall, "peak": _max_rss() - baseline, "body": len(body), "count": count}


def run(method: str, path: str, region: str | None, repeat: int) -> dict[str, Any]:
    """Measure ``repeat`` times, each in a fresh subprocess; keep the best times and the highest peak."""
    results = []
    for _ in range(repeat):
        command = [sys.executable, __file__, "--measure", method, path]
        if region:
            command += ["--region", region]
        completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
        if completed.returncode:
            sys.exit(f"{method} on {path} failed:\n{completed.stderr[-3000:]}")
        results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    return {
        "cpu": min(r["cpu"] for r in results),
        "wall": min(r["wall"] for r in results),
        "peak": max(r["peak"] for r in results),
        "body": results[0]["body"],
        "count": results[0]["count"],
    }


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated recipient counts")
    parser.add_argument("--national", type=int, default=1_000_000, help="national-format run size; 0 skips it")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (national format: one)")
    parser.add_argument("--measure", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--region", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure, args.region)))
        return

    from importlib.metadata import version

    print(
        f"# {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"apache-airflow {version('apache-airflow')}, phonenumbers {version('phonenumbers')}"
    )
    print(f"# time = CPU seconds, best of {args.repeat} runs; peak = ru_maxrss after the work minus before it")
    print()
    print(
        "| recipients | naive time | provider time | provider/naive | (wall-clock) | request body | naive peak "
        "| provider peak | provider peak/body |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="ccai-recipients-") as directory:
        for size in (int(s) for s in args.sizes.split(",") if s.strip()):
            path = os.path.join(directory, f"recipients_{size}.csv")
            write_csv(path, size, national=False)
            naive = run("naive", path, None, args.repeat)
            provider = run("provider", path, None, args.repeat)
            assert provider["count"] == size, provider
            print(
                f"| {size:,} | {naive['cpu']:.2f} s | {provider['cpu']:.2f} s | {provider['cpu'] / naive['cpu']:.2f} "
                f"| {provider['wall'] / naive['wall']:.2f} | {_mib(provider['body'])} | {_mib(naive['peak'])} "
                f"| {_mib(provider['peak'])} | {provider['peak'] / provider['body']:.2f} |",
                flush=True,
            )
            os.remove(path)
        if args.national:
            path = os.path.join(directory, f"national_{args.national}.csv")
            write_csv(path, args.national, national=True)
            naive = run("naive", path, None, 1)
            provider = run("provider", path, "US", 1)
            assert provider["count"] == args.national, provider
            print()
            print(
                f"National format ({args.national:,} numbers like '(415) 555-0100', default_region='US', "
                f"parsed by phonenumbers): provider {provider['cpu']:.2f} s "
                f"({provider['cpu'] / args.national * 1e6:.1f} µs a number), naive {naive['cpu']:.2f} s, "
                f"ratio {provider['cpu'] / naive['cpu']:.1f}, body {_mib(provider['body'])}, "
                f"provider peak {_mib(provider['peak'])} ({provider['peak'] / provider['body']:.2f}x body)"
            )


if __name__ == "__main__":
    main()
