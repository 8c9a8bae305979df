"""Prometheus text exposition of a few counters and gauges. Hand-written because the format is
a dozen lines and prometheus_client is not among the project's dependencies."""
from __future__ import annotations

import threading
from collections import defaultdict


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self._help: dict[str, tuple[str, str]] = {}
        self._gauges: dict[str, callable] = {}

    def counter(self, name: str, help_: str) -> None:
        self._help[name] = ("counter", help_)
        self._counters[name]

    def gauge(self, name: str, help_: str, read) -> None:
        self._help[name] = ("gauge", help_)
        self._gauges[name] = read

    def inc(self, name: str, amount: float = 1, **labels) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._counters[name][key] += amount

    def value(self, name: str, **labels) -> float:
        with self._lock:
            return self._counters[name].get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines = []
        with self._lock:
            snapshot = {n: dict(v) for n, v in self._counters.items()}
        for name, (kind, help_) in sorted(self._help.items()):
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {kind}")
            if kind == "counter":
                series = snapshot.get(name) or {(): 0.0}
                for key, v in sorted(series.items()):
                    lines.append(f"{name}{_labels(key)} {_num(v)}")
            else:
                lines.append(f"{name} {_num(float(self._gauges[name]()))}")
        return "\n".join(lines) + "\n"


def _labels(key: tuple) -> str:
    if not key:
        return ""
    inner = ",".join(f'{k}="{str(v)}"'.replace("\n", " ") for k, v in key)
    return "{" + inner + "}"


def _num(v: float) -> str:
    return str(int(v)) if v == int(v) else repr(v)
