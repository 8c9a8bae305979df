"""The server's Prometheus metrics, on prometheus_client with one registry per app (tests run many
apps in one process). Counters and histograms are declared with their label names (sorted, so
the exposition reads the same whatever the call order); gauges read a callable at scrape time,
either one number or one number per label value (devices online by kind).

Labels carry categories only (a type, a reason, a route template, a kind): never a device id,
a username, a phone number or a secret."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from fleet_server.logs import event

disable_created_metrics()   # *_created series double the exposition and nothing here alerts on them
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
log = logging.getLogger("siaga.metrics")

# Around the 5-minute promise: fine below a minute (acknowledging), then up to twice the promise.
PROMISE_BUCKETS = (5, 10, 15, 30, 60, 90, 120, 180, 240, 300, 360, 480, 600, 900, 1800)
# Device press -> application ack (the device's outbox retries past 10 s).
ACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self._series: dict[str, Counter | Histogram] = {}
        self._gauges = _Gauges()
        self.registry.register(self._gauges)

    # ---- declaring -----------------------------------------------------------------------------
    def counter(self, name: str, help_: str, labels: Iterable[str] = ()) -> None:
        """A counter; `name` is its exposed name (ending in _total)."""
        if name not in self._series:
            base = name[:-len("_total")] if name.endswith("_total") else name
            self._series[name] = Counter(base, help_, sorted(labels), registry=self.registry)

    def histogram(self, name: str, help_: str, buckets: Iterable[float], labels: Iterable[str] = ()) -> None:
        if name not in self._series:
            self._series[name] = Histogram(name, help_, sorted(labels), buckets=tuple(buckets), registry=self.registry)

    def gauge(self, name: str, help_: str, read: Callable[[], float]) -> None:
        """A gauge read at scrape time."""
        self._gauges.add(name, help_, (), lambda: {(): read()})

    def gauges(self, name: str, help_: str, labels: Iterable[str], read: Callable[[], dict]) -> None:
        """One gauge per label set: read() -> {(label values in the order of labels): number}."""
        self._gauges.add(name, help_, tuple(labels), read)

    def counted_elsewhere(self, name: str, help_: str, labels: Iterable[str], read: Callable[[], dict]) -> None:
        """A counter a part keeps itself (only ever growing), read at scrape time like gauges()."""
        self._gauges.add(name, help_, tuple(labels), read, CounterMetricFamily)

    # ---- recording -----------------------------------------------------------------------------
    def inc(self, name: str, amount: float = 1, **labels) -> None:
        series = self._series[name]
        (series.labels(**labels) if labels else series).inc(amount)

    def observe(self, name: str, value: float, **labels) -> None:
        series = self._series[name]
        (series.labels(**labels) if labels else series).observe(max(0.0, value))

    def value(self, name: str, **labels) -> float:
        """A counter's current value (0 for a label set never counted)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Gauges(Collector):
    """Gauges (and counters kept by a part) whose value is read when Prometheus scrapes; one that fails to read is left out of
    that scrape (and logged), the others are still served."""

    def __init__(self):
        self._read: dict[str, tuple] = {}

    def add(self, name: str, help_: str, labels: tuple[str, ...], read: Callable[[], dict],
            family=GaugeMetricFamily) -> None:
        self._read[name] = (help_, labels, read, family)

    def describe(self):
        return []   # the set grows as parts start; nothing to check against at registration

    def collect(self):
        for name, (help_, labels, read, family_type) in sorted(self._read.items()):
            try:
                values = read()
            except Exception as e:  # a part shutting down; the scrape goes on
                event(log, logging.WARNING, "gauge unreadable", gauge=name, error=repr(e))
                continue
            family = family_type(name, help_, labels=list(labels))
            for key, v in sorted(values.items()):
                family.add_metric(list(key), float(v))
            yield family
