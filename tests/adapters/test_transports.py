"""GT06 over real TCP and the phone endpoints over real HTTP, into a real incident service (SQLite)
and the real units tracking: positions move the bound unit, an SOS is one incident however often
it is sent, and the tracker is answered only after the incident is committed."""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import types

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from fleet_server.adapters import binding
from fleet_server.adapters.gt06 import framing
from fleet_server.adapters.gt06.server import Gt06Server
from fleet_server.adapters.http import router
from fleet_server.domain.service import IncidentService, Rules
from fleet_server.storage import devices as device_repo
from fleet_server.storage.db import Database
from fleet_server.storage.models import Incident
from fleet_server.domain.tracking import Tracking
from fleet_server.storage.repositories import SqlIncidentStore
from tests.units.conftest import ambulance

IMEI = "864717003283581"
SOS_HEX = "7878241617070a150e24ca01fba0040780e177005c0001720253360027db6204e40400004bf1e90d0a"


def _login(serial=1):
    return framing.build(0x01, serial, bytes.fromhex("0" + IMEI) + b"\x00\x00")


def _gps_frame(serial: int, ts: float, lat: float, lon: float, type_=0x12) -> bytes:
    t = time.gmtime(ts)
    content = bytes((t.tm_year - 2000, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, 0xC9))
    course = (1 << 12) | (1 << 10 if lat >= 0 else 0) | (1 << 11 if lon < 0 else 0) | 90
    content += int(abs(lat) * 1800000).to_bytes(4, "big") + int(abs(lon) * 1800000).to_bytes(4, "big")
    content += bytes((30,)) + course.to_bytes(2, "big") + bytes.fromhex("01fe0a1234567890")
    return framing.build(type_, serial, content)


def _sos_frame(serial: int, ts: float, lat: float, lon: float) -> bytes:
    t = time.gmtime(ts)
    content = bytes((t.tm_year - 2000, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, 0xC9))
    course = (1 << 12) | (1 << 10 if lat >= 0 else 0) | (1 << 11 if lon < 0 else 0)
    content += int(abs(lat) * 1800000).to_bytes(4, "big") + int(abs(lon) * 1800000).to_bytes(4, "big")
    content += bytes((0,)) + course.to_bytes(2, "big")
    content += bytes.fromhex("09" "01fe" "0a" "1234" "567890")   # cell block with its length
    content += bytes((0x04 << 3 | 0x02, 6, 4, 0x01, 0x02))       # status: SOS; alarm byte: SOS
    return framing.build(0x16, serial, content)


@pytest.fixture
def center(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'center.db'}")
    service = IncidentService(SqlIncidentStore(db), Rules())
    tracking = Tracking()
    for proto, ident, n in (("gt06", IMEI, 1), ("osmand", "48241179", 2), ("owntracks", "jane/nokia", 3),
                            ("traccar", "868120123456789", 4)):
        dev = binding.device_id(proto, ident)
        service.register_device(dev, "tracker", "tech")
        tracking.add_unit(ambulance(n, device_id=dev))
    fleet = types.SimpleNamespace(handle=lambda kind, msg, at: tracking.accept_position(msg, at))
    pipe = binding.Pipeline(service, fleet, known=lambda dev: _active(db, dev))
    yield types.SimpleNamespace(db=db, service=service, tracking=tracking, pipeline=pipe)
    db.dispose()


def _active(db, device_id) -> bool:
    with db.read() as s:
        d = device_repo.get(s, device_id)
        return d is not None and d.active


def _incidents(db) -> int:
    with db.read() as s:
        return s.query(Incident).count()


async def _exchange(port, frames, expect_answers, timeout=5.0):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for f in frames:
            w.write(f)
            await w.drain()
        reader = framing.FrameReader()
        deadline = time.monotonic() + timeout
        while len(answers) < expect_answers and time.monotonic() < deadline:
            try:
                data = await asyncio.wait_for(r.read(1024), max(0.05, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if not data:
                break
            answers += reader.feed(data)
    finally:
        w.close()
    return answers


def test_gt06_sos_over_tcp_is_one_incident_and_moves_the_unit(center):
    async def run():
        srv = await Gt06Server(center.pipeline, port=0).start()
        try:
            now = time.time()
            sos = _sos_frame(42, now - 5, -6.9102, 107.6001)
            answers = await _exchange(srv.port, [_login(), _gps_frame(2, now - 10, -6.91, 107.60), sos, sos], 4)
            assert [a.type for a in answers] == [0x01, 0x12, 0x16, 0x16]
            assert all(isinstance(a, framing.Frame) and a.crc_ok for a in answers)
            assert [a.serial for a in answers] == [1, 2, 42, 42]
            # The same frame on a new connection (the tracker reconnected before it saw the ack).
            again = await _exchange(srv.port, [_login(7), sos], 2)
            assert [a.type for a in again] == [0x01, 0x16]
        finally:
            await srv.stop()

    asyncio.run(run())
    assert _incidents(center.db) == 1
    unit = center.tracking.unit_for_device(binding.device_id("gt06", IMEI))
    assert unit.position is not None and abs(unit.position.lat - (-6910200)) <= 1


def test_gt06_unknown_imei_garbage_and_idle_close_only_their_connection(center):
    async def run():
        srv = await Gt06Server(center.pipeline, port=0, idle_timeout_s=0.5).start()
        try:
            stranger = framing.build(0x01, 1, bytes.fromhex("0359339075005244") + b"\x00\x00")
            assert await _exchange(srv.port, [stranger], 1, timeout=2) == []
            good_r, good_w = await asyncio.open_connection("127.0.0.1", srv.port)
            good_w.write(_login())
            await good_w.drain()
            ack = framing.FrameReader().feed(await asyncio.wait_for(good_r.read(64), 3))
            assert ack and ack[0].type == 0x01
            bad = await _exchange(srv.port, [b"GET / HTTP/1.1\r\n\r\n"], 1, timeout=2)
            assert bad == []
            assert srv.counts["closed.garbage"] == 1 and srv.counts["closed.unknown"] == 1
            good_w.write(_gps_frame(3, time.time() - 1, -6.92, 107.61))
            await good_w.drain()
            ack = framing.FrameReader().feed(await asyncio.wait_for(good_r.read(64), 3))
            assert ack and ack[0].type == 0x12
            # Then silence: the server closes it after the idle timeout.
            assert await asyncio.wait_for(good_r.read(64), 5) == b""
            assert srv.counts["closed.idle"] >= 1
            good_w.close()
        finally:
            await srv.stop()

    asyncio.run(run())


def test_gt06_slow_sender_is_closed_while_others_are_served(center):
    async def run():
        srv = await Gt06Server(center.pipeline, port=0, frame_timeout_s=0.6).start()
        try:
            slow_r, slow_w = await asyncio.open_connection("127.0.0.1", srv.port)
            login = _login()
            for b in login[:3]:            # a byte at a time, never the whole frame
                slow_w.write(bytes((b,)))
                await slow_w.drain()
                await asyncio.sleep(0.1)
            answers = await _exchange(srv.port, [_login(3), _gps_frame(4, time.time() - 1, -6.9, 107.6)], 2)
            assert [a.type for a in answers] == [0x01, 0x12]
            assert await asyncio.wait_for(slow_r.read(64), 5) == b""
            assert srv.counts["closed.slow"] == 1
            slow_w.close()
        finally:
            await srv.stop()

    asyncio.run(run())


def test_gt06_alarm_from_an_unregistered_binding_is_not_acknowledged(center, tmp_path):
    pipe = binding.Pipeline(None, None, known=lambda dev: True)   # no incident service to commit into

    async def run():
        srv = await Gt06Server(pipe, port=0).start()
        try:
            answers = await _exchange(srv.port, [_login(), _sos_frame(5, time.time(), -6.9, 107.6)], 2, timeout=1.5)
            assert [a.type for a in answers] == [0x01]
        finally:
            await srv.stop()

    asyncio.run(run())


@pytest.fixture
def http_center(center):
    app = FastAPI()
    app.state.adapters = center.pipeline
    app.include_router(router)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    center.url = f"http://127.0.0.1:{port}"
    center.app = app
    yield center
    server.should_exit = True
    t.join(10)


def test_phones_and_traccar_move_their_units_over_http(http_center):
    c = http_center
    now = int(time.time())
    with httpx.Client(base_url=c.url, timeout=5) as http:
        r = http.get("/adapters/osmand", params={"id": "48241179", "lat": "-6.9", "lon": "107.6", "timestamp": now - 3})
        assert r.status_code == 200 and r.content == b""
        r = http.post("/adapters/owntracks", headers={"X-Limit-U": "jane", "X-Limit-D": "nokia"},
                      json={"_type": "location", "tid": "j1", "tst": now - 2, "lat": -6.91, "lon": 107.61})
        assert r.status_code == 200 and r.json() == []
        fwd = {"device": {"uniqueId": "868120123456789"},
               "position": {"id": 5, "latitude": -6.92, "longitude": 107.62, "fixTime": now - 1, "valid": True}}
        fwd["position"]["fixTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1))
        assert http.post("/adapters/traccar", content=json.dumps(fwd)).status_code == 200
        assert http.get("/adapters/osmand", params={"lat": "1", "lon": "2"}).status_code == 400
        stranger = http.get("/adapters/osmand", params={"id": "99999", "lat": "-6.9", "lon": "107.6"})
        assert stranger.status_code == 400 and "not registered" in stranger.text
        assert http.post("/adapters/owntracks", json={"_type": "location"}).status_code == 400
        sos = {"id": "48241179", "lat": "-6.9", "lon": "107.6", "timestamp": str(now), "alarm": "sos"}
        assert http.post("/adapters/osmand", data=sos).status_code == 200
        assert http.post("/adapters/osmand", data=sos).status_code == 200
    for proto, ident, lat in (("osmand", "48241179", -6900000), ("owntracks", "jane/nokia", -6910000),
                              ("traccar", "868120123456789", -6920000)):
        unit = c.tracking.unit_for_device(binding.device_id(proto, ident))
        assert unit.position is not None and unit.position.lat == lat, proto
    assert _incidents(c.db) == 1


class _ServerThread:
    """A Gt06Server on its own event loop in a thread, so a synchronous hypothesis test can talk to
    it over real sockets between examples."""

    def __init__(self, pipeline):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(Gt06Server(pipeline, port=0, idle_timeout_s=30).start(),
                                                       self.loop).result(10)

    def close(self):
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _answers(sock, n, timeout=3.0) -> list:
    reader, out = framing.FrameReader(), []
    sock.settimeout(timeout)
    while len(out) < n:
        data = sock.recv(1024)
        if not data:
            break
        out += reader.feed(data)
    return out


def test_mutated_frames_never_crash_the_server_or_close_another_tracker(center, traccar_frames):
    """Hypothesis mutates real frames (Traccar's captures and our own SOS) and throws each, after a
    login, at the server on a connection of its own. A logged-in bystander keeps its connection
    throughout and is answered after every example; the server keeps accepting."""
    from hypothesis import HealthCheck, given, settings, strategies as st

    seeds = [bytes.fromhex(e["hex"]) for e in traccar_frames["gt06"]] + [
        _sos_frame(5, time.time(), -6.9, 107.6), _gps_frame(6, time.time(), -6.9, 107.6)]
    srv = _ServerThread(center.pipeline)
    bystander = socket.create_connection(("127.0.0.1", srv.server.port), timeout=5)
    serial = iter(range(10, 60000))
    try:
        bystander.sendall(_login())
        assert [a.type for a in _answers(bystander, 1)] == [0x01]

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.data())
        def throw(data):
            raw = bytearray(data.draw(st.sampled_from(seeds)))
            for _ in range(data.draw(st.integers(0, 4))):
                raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
            raw = bytes(raw[:data.draw(st.integers(0, len(raw)))]) + data.draw(st.binary(max_size=16))
            with socket.create_connection(("127.0.0.1", srv.server.port), timeout=5) as s:
                s.sendall(_login(2) + raw)
                s.shutdown(socket.SHUT_WR)          # the server reads to the end, then closes
                s.settimeout(5)
                while s.recv(4096):
                    pass
            n = next(serial)
            bystander.sendall(_gps_frame(n, time.time() - 1, -6.91, 107.60))
            acks = _answers(bystander, 1)
            assert [(a.type, a.serial) for a in acks] == [(0x12, n)], "the bystander lost its connection"

        throw()
        assert srv.server.connections == 1            # only the bystander is left open
    finally:
        bystander.close()
        srv.close()


def test_hostile_http_bodies_are_answered_with_a_reason_never_a_crash(http_center):
    """Mutated OsmAnd, OwnTracks and Traccar bodies over real HTTP: every answer is 200 or a
    refusal with its code and reason (400, or 503 for an alarm that could not be committed)."""
    from hypothesis import HealthCheck, given, settings, strategies as st

    c = http_center
    seeds = [("/adapters/osmand", b"id=48241179&lat=-6.9&lon=107.6&alarm=sos", "application/x-www-form-urlencoded"),
             ("/adapters/osmand", json.dumps({"device_id": "48241179", "location": [{"timestamp": "2026-05-01T10:00:00Z",
              "coords": {"latitude": -6.9, "longitude": 107.6}}]}).encode(), "application/json"),
             ("/adapters/owntracks", json.dumps({"_type": "location", "tid": "j1", "tst": 1780000000, "lat": -6.9,
                                                 "lon": 107.6}).encode(), "application/json"),
             ("/adapters/traccar", json.dumps({"device": {"uniqueId": "868120123456789"}, "position": {
                 "id": 1, "latitude": -6.9, "longitude": 107.6, "attributes": {"alarm": "sos"}}}).encode(),
              "application/json")]
    with httpx.Client(base_url=c.url, timeout=10) as http:
        @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.data())
        def throw(data):
            path, body, ctype = data.draw(st.sampled_from(seeds))
            body = bytearray(body)
            for _ in range(data.draw(st.integers(0, 6))):
                body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
            body = bytes(body[:data.draw(st.integers(0, len(body)))])
            r = http.post(path, content=body, headers={"content-type": ctype, "X-Limit-U": "jane", "X-Limit-D": "nokia"})
            assert r.status_code in (200, 400, 503), (path, body, r.status_code, r.text)
            if r.status_code != 200:
                assert r.json()["code"] and r.json()["reason"], r.text

        throw()


def test_owntracks_encrypted_over_http_opens_with_the_configured_key_only(http_center):
    from fleet_server.adapters.owntracks import decoder as owntracks
    c = http_center
    now = int(time.time())
    plain = json.dumps({"_type": "location", "tid": "j1", "tst": now - 1, "lat": -6.9301, "lon": 107.6}).encode()
    sealed = {"_type": "encrypted", "data": owntracks.encrypt(plain, owntracks.secret_key("kunci rahasia"))}
    who = {"X-Limit-U": "jane", "X-Limit-D": "nokia"}
    with httpx.Client(base_url=c.url, timeout=5) as http:
        r = http.post("/adapters/owntracks", headers=who, json=sealed)
        assert r.status_code == 400 and r.json()["code"] == "encrypted" and "no OwnTracks key" in r.json()["reason"]
        c.app.state.owntracks_key = owntracks.secret_key("another passphrase")
        r = http.post("/adapters/owntracks", headers=who, json=sealed)
        assert r.status_code == 400 and "does not open" in r.json()["reason"]
        c.app.state.owntracks_key = owntracks.secret_key("kunci rahasia")
        r = http.post("/adapters/owntracks", headers=who, json=sealed)
        assert r.status_code == 200 and r.json() == []
    unit = c.tracking.unit_for_device(binding.device_id("owntracks", "jane/nokia"))
    assert unit.position is not None and unit.position.lat == -6930100
    assert c.pipeline.counts["owntracks.request.encrypted"] == 2
