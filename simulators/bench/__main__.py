"""`make bench`: run every benchmark module in simulators/bench/ (each exposes main(smoke=False)),
then render bench/report/README.md and PNG plots from bench/results/*.json.
`python -m simulators.bench [--smoke] [--only name,name]`"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback

from rich.console import Console

import simulators.bench as pkg
from simulators.bench import report

NOT_BENCHMARKS = {"results", "report", "__main__"}
console = Console()


def modules(only: set[str] | None = None) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name not in NOT_BENCHMARKS)
    return [n for n in names if not only or n in only]


def main(argv: list[str]) -> int:
    smoke = "--smoke" in argv
    only = None
    if "--only" in argv:
        only = set(argv[argv.index("--only") + 1].split(","))
    failed = []
    for name in modules(only):
        console.rule(f"[bold]{name}[/bold]{' (smoke)' if smoke else ''}")
        t0 = time.monotonic()
        try:
            mod = importlib.import_module(f"simulators.bench.{name}")
            mod.main(smoke=smoke)
            console.print(f"[green]{name} done in {time.monotonic() - t0:.1f}s")
        except Exception:
            failed.append(name)
            console.print(f"[red]{name} failed:\n{traceback.format_exc()}")
    path = report.render()
    console.print(f"report: {path}")
    if failed:
        console.print(f"[red]benchmarks that did not run: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
