"""
DAG-parse cost: how much importing this provider adds to parsing a DAG file.

Every DAG file that uses the provider imports its operator, sensor and notifier modules, and the DAG
processor parses files over and over, so the import must stay cheap. Each run is a fresh interpreter
(``sys.executable``) that times, with ``time.perf_counter()`` around the import statements only:

* (a) baseline: ``from airflow.sdk import DAG`` (Airflow 3) or ``from airflow.models import DAG``
  (Airflow 2.11), what any DAG file pays. (A bare ``import airflow.models`` is lazy on 2.11: it loads
  no DAG or operator machinery, and the ~300 ms of ``BaseOperator`` would be charged to the provider.)
* (b) provider: the baseline, then ``airflow_provider_ccai.operators.ccai``, ``.sensors.ccai`` and
  ``.notifications.ccai``; "added" is the time of that second import, measured in the same process;
* (c) split: the baseline, then the Airflow base classes the provider subclasses (``BaseOperator``,
  ``BaseSensorOperator``, ``BaseNotifier``), then the provider's modules: how much of "added" any
  sensor and notifier pays, and how much is the provider's own;
* (d) comparison: (b), then ``airflow.providers.http.operators.http.HttpOperator`` if the HTTP provider is
  installed (it is not a dependency of this project and is never installed by this script).

The kinds of run are interleaved; the first round is a discarded warm-up (it writes ``airflow.cfg``
into a throw-away ``AIRFLOW_HOME`` and compiles bytecode). Bytecode is cached, as for an installed
package, in a throw-away ``PYTHONPYCACHEPREFIX`` even when ``PYTHONDONTWRITEBYTECODE`` is set: without
it every run would recompile the provider's (editable) sources and measure the compiler.

Reported: medians and interquartile ranges (IQR) in milliseconds, and which heavy modules (requests,
aiohttp, httpx, phonenumbers, pandas) the provider import loads that the baseline had not already
loaded. The target is an added median of at most 5 ms and no heavy module.

Run: ``make benchmarks`` or ``python benchmarks/parse_cost.py [--runs 30] [--verbose]`` with the
interpreter of the Airflow installation to measure. Exit status 1 if the provider import loads a heavy
module; timings never fail the run (they depend on the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from typing import Any

PROVIDER_MODULES = (
    "airflow_provider_ccai.operators.ccai",
    "airflow_provider_ccai.sensors.ccai",
    "airflow_provider_ccai.notifications.ccai",
)
HTTP_OPERATOR = "from airflow.providers.http.operators.http import HttpOperator"
HEAVY_MODULES = ("requests", "aiohttp", "httpx", "phonenumbers", "pandas")
TARGET_ADDED_MS = 5.0
CHILD_TIMEOUT_SECONDS = 120

#: Runs in the child. ``STEPS`` is a list of (name, import statement); it prints one JSON line.
CHILD = """
import json, sys, time
HEAVY = {heavy!r}
result = {{"steps": {{}}, "heavy": {{}}, "new_modules": {{}}}}
for name, statement in {steps!r}:
    before = set(sys.modules)
    start = time.perf_counter()
    exec(statement)
    result["steps"][name] = (time.perf_counter() - start) * 1000
    new = sorted(set(sys.modules) - before)
    result["new_modules"][name] = new
    result["heavy"][name] = sorted({{m.split(".")[0] for m in new}} & set(HEAVY))
added = set(result["heavy"].get("provider", []))
result["heavy_in_baseline"] = sorted(m for m in HEAVY if m in sys.modules and m not in added)
print("PARSE_COST " + json.dumps(result))
"""


def airflow_major() -> int:
    return int(version("apache-airflow").split(".")[0])


def http_provider_version() -> str | None:
    try:
        return version("apache-airflow-providers-http")
    except PackageNotFoundError:
        return None


#: The Airflow base classes the provider's modules subclass, per Airflow major version. Any operator,
#: sensor or notifier pays for these; importing them first splits "added" into theirs and the provider's own.
AIRFLOW_BASES = {
    3: "from airflow.sdk import BaseNotifier, BaseOperator, BaseSensorOperator",
    2: (
        "from airflow.models.baseoperator import BaseOperator; from airflow.sensors.base import BaseSensorOperator; "
        "from airflow.notifications.basenotifier import BaseNotifier"
    ),
}


def kinds(baseline: str, bases: str, with_http: bool) -> dict[str, list[tuple[str, str]]]:
    """Each kind of run as its list of timed (step name, import statement)."""
    provider = ("provider", "import " + ", ".join(PROVIDER_MODULES))
    steps = {
        "baseline": [("baseline", f"from {baseline} import DAG")],
        "provider": [("baseline", f"from {baseline} import DAG"), provider],
        "split": [("baseline", f"from {baseline} import DAG"), ("bases", bases), provider],
    }
    if with_http:
        steps["http"] = [("baseline", f"from {baseline} import DAG"), provider, ("http", HTTP_OPERATOR)]
    return steps


def run_child(steps: list[tuple[str, str]], env: dict[str, str]) -> dict[str, Any]:
    code = CHILD.format(heavy=HEAVY_MODULES, steps=steps)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_SECONDS
    )
    for line in done.stdout.splitlines():
        if line.startswith("PARSE_COST "):
            return json.loads(line[len("PARSE_COST ") :])
    raise SystemExit(f"child failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def summary(values: list[float]) -> str:
    """``median (IQR q1-q3)`` in milliseconds."""
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return f"{median:7.1f} ms  (IQR {q1:.1f}-{q3:.1f}, {q3 - q1:.1f} wide)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="measured runs of each kind (default 30)")
    parser.add_argument("--verbose", action="store_true", help="list every module the provider import adds")
    args = parser.parse_args()

    major = airflow_major()
    baseline = "airflow.sdk" if major >= 3 else "airflow.models"  # ``from <baseline> import DAG``
    http = http_provider_version()
    plan = kinds(baseline, AIRFLOW_BASES[min(major, 3)], http is not None)

    home = tempfile.mkdtemp(prefix="ccai-parse-cost-home-")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPYCACHEPREFIX=os.path.join(home, "pycache"),
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{os.path.join(home, 'airflow.db')}",
    )
    samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in plan}
    try:
        for round_ in range(args.runs + 1):
            for kind, steps in plan.items():
                result = run_child(steps, env)
                if round_ > 0:  # round 0 is the warm-up
                    samples[kind].append(result)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    baseline_ms = [run["steps"]["baseline"] for run in samples["baseline"]]
    provider_total = [run["steps"]["baseline"] + run["steps"]["provider"] for run in samples["provider"]]
    added = [run["steps"]["provider"] for run in samples["provider"]]
    heavy = sorted({name for run in samples["provider"] for name in run["heavy"]["provider"]})
    already = sorted({name for run in samples["provider"] for name in run["heavy_in_baseline"]})
    new_modules = samples["provider"][0]["new_modules"]["provider"]
    foreign = [name for name in new_modules if not name.startswith("airflow_provider_ccai")]

    print(f"DAG-parse cost of airflow-provider-ccai: {args.runs} runs of each kind, fresh interpreter each")
    print(f"  Airflow {version('apache-airflow')}, Python {platform.python_version()}, {platform.machine()}")
    print(f"  (a) baseline: from {baseline} import DAG")
    print(f"  (b) provider: (a) + import {', '.join(PROVIDER_MODULES)}")
    print()
    print(f"  baseline (a)             {summary(baseline_ms)}")
    print(f"  provider (b), total      {summary(provider_total)}")
    print(f"  added by the provider    {summary(added)}")
    print(f"    Airflow's base classes {summary([run['steps']['bases'] for run in samples['split']])}")
    print(f"    then the provider's    {summary([run['steps']['provider'] for run in samples['split']])}")
    print("    (in separate runs (c) = (a) + the BaseOperator, BaseSensorOperator and BaseNotifier the")
    print("     provider subclasses, then its modules: what any sensor and notifier pays, and what is its own)")
    if http is None:
        print("  HttpOperator added       n/a: apache-airflow-providers-http is not installed here")
    else:
        print(f"  HttpOperator added       {summary([run['steps']['http'] for run in samples['http']])}")
        print(f"    (apache-airflow-providers-http {http}, imported on top of (b))")
    print()
    met = statistics.median(added) <= TARGET_ADDED_MS
    print(f"  target: added median <= {TARGET_ADDED_MS:.0f} ms: {'met' if met else 'MISSED'}")
    print(f"  heavy modules loaded by the provider import: {', '.join(heavy) or 'none'}")
    print(f"  heavy modules the baseline had already loaded: {', '.join(already) or 'none'}")
    print(f"  modules added by the provider import: {len(new_modules)} ({len(foreign)} outside the provider)")
    if args.verbose:
        for name in new_modules:
            print(f"    {name}")
    return 1 if heavy else 0


if __name__ == "__main__":
    sys.exit(main())
