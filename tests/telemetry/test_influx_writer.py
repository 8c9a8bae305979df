"""Telemetry goes to a real server speaking the InfluxDB v2 write API (VictoriaMetrics), in the
background: what was written is read back; while the database is down the writer holds a bounded
number of points, drops the oldest and counts them, and never blocks the caller."""
from __future__ import annotations

import time

import pytest

from fleet_server.broker.mosquitto import free_port
from fleet_server.telemetry import TelemetryConfig, TelemetryWriter
from fleet_server.domain.units import Position, Unit
from tests.support.victoriametrics import VictoriaMetrics

AMB = Unit(id="AMB-01", callsign="Ambulans 1", agency="medical", type="ambulance")
BASE_LAT, BASE_LON = -6902481, 107618767


def fix(i: int, t0: float) -> Position:
    return Position(lat=BASE_LAT + i, lon=BASE_LON, ts=t0 + i, received_at=t0 + i, acc=5, spd=1000)


@pytest.fixture
def victoria(tmp_path):
    vm = VictoriaMetrics(tmp_path / "vm").start()
    try:
        yield vm
    finally:
        vm.stop()


@pytest.fixture
def writers():
    made = []

    def make(**kw):
        w = TelemetryWriter(TelemetryConfig(**kw))
        made.append(w)
        return w
    try:
        yield make
    finally:
        for w in made:
            w.close(timeout=1)


def lat_samples(vm: VictoriaMetrics, count: int, timeout: float = 10.0) -> dict[int, float]:
    """{timestamp ms: latitude} of AMB-01 as stored."""
    series = vm.wait_for_samples('unit_position_lat{unit="AMB-01"}', count, timeout)
    out = {}
    for s in series:
        out.update(zip(s["timestamps"], s["values"]))
    return out


def test_given_a_running_database_when_positions_are_written_then_they_read_back_exactly(victoria, writers):
    w = writers(url=victoria.url, batch_size=100, flush_interval_s=0.1)
    t0 = float(int(time.time()) - 1000)
    for i in range(250):
        w.write_position(AMB, fix(i, t0))
    assert w.flush(10)
    got = lat_samples(victoria, 250)
    assert len(got) == 250
    assert got[int(t0 * 1000)] == pytest.approx(BASE_LAT / 1e6, abs=1e-7)
    assert got[int((t0 + 249) * 1000)] == pytest.approx((BASE_LAT + 249) / 1e6, abs=1e-7)
    speed = victoria.export('unit_position_speed_kmh{unit="AMB-01",agency="medical",type="ambulance"}')
    assert speed and speed[0]["values"][0] == pytest.approx(36.0)
    assert w.stats()["written"] == 250 and w.dropped == 0


def test_given_the_database_down_when_positions_keep_coming_then_memory_is_bounded_and_later_points_arrive(tmp_path, writers):
    port = free_port()
    w = writers(url=f"http://127.0.0.1:{port}", batch_size=100, flush_interval_s=0.05, max_buffered=500,
                backoff_min_s=0.05, backoff_max_s=0.3, timeout_ms=500)
    t0 = float(int(time.time()) - 3000)
    started = time.monotonic()
    for i in range(2000):
        w.write_position(AMB, fix(i, t0))
    # Never blocks: 2,000 writes while nothing listens are only appends (bounded loosely for slow CI).
    assert time.monotonic() - started < 1.0
    assert w.buffered <= 500
    deadline = time.monotonic() + 5
    while w.failures == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert w.failures >= 1 and w.last_error  # retried, with the reason kept for /metrics and the log
    # Bounded: at most max_buffered waiting plus the one batch the sender may hold in flight; the
    # rest of the outage was dropped (oldest first), and counted.
    assert w.dropped >= 2000 - 500 - 100

    vm = VictoriaMetrics(tmp_path / "vm", port=port).start()
    try:
        assert w.flush(15)          # the backlog drains once the database is back
        for i in range(2000, 2100):
            w.write_position(AMB, fix(i, t0))
        assert w.flush(15)
        assert w.dropped + w.written == 2100, w.stats()     # every point written or counted as dropped
        got = lat_samples(vm, w.written)
        assert len(got) == w.written, (len(got), w.stats())
        # The newest 500 of the outage and everything after it arrived; what was lost is older.
        newest = {int((t0 + i) * 1000) for i in range(1500, 2100)}
        assert newest <= set(got), sorted(newest - set(got))[:5]
        assert w.written <= 600 + 100
    finally:
        vm.stop()


def _parse(line: str) -> tuple[str, dict, int]:
    head, fields, ts = line.rsplit(" ", 2)
    return head, {k: float(v) for k, v in (f.split("=") for f in fields.split(","))}, int(ts)


def test_given_a_position_when_written_as_line_protocol_then_it_equals_the_clients_point():
    """The hand-written line (the hot path) says what influxdb_client.Point says, escapes included."""
    from fleet_server.telemetry.influx import position_line, position_point
    odd = Unit(id="AMB 1,x=y", callsign="odd", agency="medical", type="ambulance")
    for unit, pos in ((AMB, fix(3, 1_790_000_000.25)), (odd, Position(lat=-1, lon=2, ts=1_790_000_000, received_at=0))):
        mine, theirs = _parse(position_line(unit, pos)), _parse(position_point(unit, pos).to_line_protocol())
        assert mine == theirs
