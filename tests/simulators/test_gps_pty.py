"""GPS on a pty (simulators/gps): a replayed gpsd capture or a generated drive, written onto a
real pseudo-terminal and read back the way firmware reads its UART — with pyserial (a Linux
Raspberry Pi) and with the real MicroPython binary through termios."""
from __future__ import annotations

import json
import time

import pytest
import serial

from protocols.nmea import parse as nmea
from simulators.gps import CaptureSource, GpsPty, NoFixSource, RouteSource
from simulators.gps.sentences import retime
from simulators.gps.sources import distance_m
from tests.support.mpy import MpyProcess

# Bandung: Gedung Sate -> Jl. Diponegoro -> Dago (microdegrees)
ROUTE = [(-6902480, 107618790), (-6900000, 107618790), (-6900000, 107622000)]


def _fixes(data: bytes) -> list[dict]:
    reader, asm, out = nmea.NmeaReader(), nmea.EpochAssembler(), []
    for s in reader.feed(data):
        if (f := asm.feed(s)):
            out.append(f)
    if (f := asm.flush()):
        out.append(f)
    return out


def _read_serial(path: str, want: int, timeout: float) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    with serial.Serial(path, 9600, timeout=0.1) as port:
        while len(got) < want and time.monotonic() < deadline:
            got += port.read(4096)
    return got


@pytest.fixture
def gps_pty():
    made: list[GpsPty] = []

    def make(source, **kw) -> GpsPty:
        g = GpsPty(source, **kw)
        made.append(g)
        return g
    yield make
    for g in made:
        g.stop()


def test_given_a_capture_on_a_pty_when_pyserial_reads_then_every_line_arrives_byte_for_byte(gps_pty, shared_data):
    """mt3339.log mixes CRLF and LF line ends: the replay keeps them exactly."""
    source = CaptureSource(shared_data / "nmea" / "gpsd" / "mt3339.log")
    gps = gps_pty(source, speed=100)
    path = gps.open()
    with serial.Serial(path, 9600, timeout=0.1) as port:
        gps.start()
        got, deadline = b"", time.monotonic() + 10
        while len(got) < len(source.data()) and time.monotonic() < deadline:
            got += port.read(4096)
    assert got == source.data()
    assert gps.wait_done(5) and gps.stats["dropped"] == 0 and gps.stats["epochs"] == 30


MPY_UART = r"""
import json, select, sys, termios
from protocols.nmea import parse as nmea
f = open(sys.argv[1], "rb")
termios.setraw(f.fileno())       # as the rpi port opens /dev/ttyS0
poll = select.poll()
poll.register(f, select.POLLIN)
reader, asm = nmea.NmeaReader(), nmea.EpochAssembler()
idle = 0
while idle < 20:                 # bounded: stop after 2 s without a byte
    if not poll.poll(100):
        idle += 1
        continue
    idle = 0
    chunk = f.read(1)            # read(n) waits for all n bytes: take what is there, byte by byte
    while poll.poll(0):
        chunk += f.read(1)
    for s in reader.feed(chunk):
        fix = asm.feed(s)
        if fix:
            print(json.dumps(fix))
fix = asm.flush()
if fix:
    print(json.dumps(fix))
print(json.dumps({"stats": reader.stats}))
"""


def test_given_a_capture_on_a_pty_when_micropython_reads_it_through_termios_then_it_decodes_gpsd_fixes(
        gps_pty, shared_data, tmp_path):
    """The MicroPython binary opens the slave, sets it raw with termios, and its NMEA parser gets
    the same fixes as CPython parsing the file (which the parser tests tie to gpsd's output)."""
    source = CaptureSource(shared_data / "nmea" / "gpsd" / "bu353s4.log")
    gps = gps_pty(source, speed=50)
    path = gps.open()
    script = tmp_path / "uart.py"
    script.write_text(MPY_UART)
    proc = MpyProcess([str(script), path], cwd=tmp_path, log=tmp_path / "mpy.log").start()
    try:
        time.sleep(0.3)   # let it open the tty before the first byte
        gps.start()
        assert gps.wait_done(10)
        deadline = time.monotonic() + 10
        while proc.running and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.stop()
    lines = [json.loads(line) for line in proc.output().splitlines() if line.startswith("{")]
    assert lines and lines[-1] == {"stats": {"ok": 90, "rejected": 0}}, proc.output()[-500:]
    assert lines[:-1] == _fixes(source.data())
    assert len(lines) - 1 == 25


def test_given_retime_to_now_when_replayed_then_times_are_now_and_positions_are_the_capture(gps_pty, shared_data):
    source = CaptureSource(shared_data / "nmea" / "gpsd" / "nmea-fuzzy-cases.log")
    original = _fixes(source.data())
    gps = gps_pty(source, speed=100, retime_to_now=True)
    path = gps.open()
    t0 = int(time.time())
    with serial.Serial(path, 9600, timeout=0.1) as port:
        gps.start()
        assert gps.wait_done(10)
        got, deadline = b"", time.monotonic() + 2
        while time.monotonic() < deadline and (chunk := port.read(4096)):
            got += chunk
    t1 = int(time.time())
    live = _fixes(got)
    assert [(f["lat"], f["lon"]) for f in live] == [(f["lat"], f["lon"]) for f in original]
    assert all(t0 <= f["ts"] <= t1 for f in live) and len(live) == 14
    # faster than real time, epochs still carry distinct (millisecond) times
    assert len({(f["ts"], f["ms"]) for f in live}) == 14
    assert original[0]["ts"] == 1584538100   # the capture's own 2020-03-18 13:28:20


def test_given_a_sentence_with_a_broken_checksum_when_retimed_then_it_stays_broken():
    broken = b"$GPGSV,3,2,12,25,31,0090,*71\r\n"
    assert retime(broken, 1763800000) == broken
    good = retime(b"$GPRMC,030129.0,A,2638.1726,N,08011.3892,W,0.00,219.6,010413,,*26\r\n", 1763800000, 250)
    r = nmea.parse_sentence(good.rstrip(b"\r\n"))
    assert r["date"] * 86400 + r["tod"] // 1000 == 1763800000 and r["tod"] % 1000 == 250 and r["lat"] == 26636210
    assert good.endswith(b"\r\n")


def test_given_a_route_on_a_pty_when_read_then_fixes_follow_the_route_at_the_profile_speed(gps_pty):
    """Two legs at 20 m/s and 10 m/s, then parked: each fix is speed x 1 s from the last one,
    the heading turns from north to east, and the parked fixes stay on the last waypoint."""
    route = RouteSource(ROUTE, speeds_mps=[20.0, 10.0], park_s=3, start_ts=1763800000)
    gps = gps_pty(route, speed=200)
    path = gps.open()
    got = b""
    with serial.Serial(path, 9600, timeout=0.1) as port:
        gps.start()
        assert gps.wait_done(10)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and (chunk := port.read(4096)):
            got += chunk
    fixes = _fixes(got)
    assert gps.stats["dropped"] == 0 and fixes[0]["ts"] == 1763800000
    steps = [distance_m((a["lat"], a["lon"]), (b["lat"], b["lon"])) for a, b in zip(fixes, fixes[1:])]
    north = [f for f in fixes if f["hdg"] == 0 and f["spd"] > 0]
    east = [f for f in fixes if f["hdg"] == 90 and f["spd"] > 0]
    assert north and east and all(f["spd"] == 2000 for f in north) and all(f["spd"] == 1000 for f in east)
    assert all(abs(s - 20) < 0.5 for s in steps[:len(north) - 1])
    assert all(abs(s - 10) < 0.5 for s in steps[len(north) + 1:len(north) + len(east) - 1])
    parked = [f for f in fixes if f["spd"] == 0]
    assert len(parked) >= 3 and all((f["lat"], f["lon"]) == ROUTE[-1] for f in parked)
    assert [f["ts"] for f in fixes] == list(range(1763800000, 1763800000 + len(fixes)))


def test_given_a_fix_when_the_source_switches_to_no_fix_then_the_reader_sees_void_epochs(gps_pty):
    gps = gps_pty(RouteSource(ROUTE[:1], park_s=None), speed=20)
    path = gps.open()
    with serial.Serial(path, 9600, timeout=0.1) as port:
        gps.start()
        first = _read_for(port, 0.5)
        gps.set_source(NoFixSource())
        port.reset_input_buffer()
        time.sleep(0.15)
        later = _read_for(port, 0.5)
    assert _fixes(first) and _fixes(later) == []
    kinds = {r["type"] for r in nmea.NmeaReader().feed(later) if isinstance(r, dict)}
    assert kinds == {"GGA", "GSA", "RMC"}


def _read_for(port, seconds: float) -> bytes:
    got, deadline = b"", time.monotonic() + seconds
    while time.monotonic() < deadline:
        got += port.read(4096)
    return got


def test_given_nobody_reads_the_pty_when_replaying_fast_then_writes_never_block_and_stop_is_prompt(gps_pty, shared_data):
    """A UART nobody reads overruns: bytes are dropped and counted, the replay thread never hangs."""
    gps = gps_pty(CaptureSource(shared_data / "nmea" / "gpsd" / "neo-m8n.log"), speed=1000, loop=True)
    gps.start()
    deadline = time.monotonic() + 5
    while gps.stats["dropped"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    t = time.monotonic()
    gps.stop()
    assert gps.stats["dropped"] > 0 and gps.stats["bytes"] > 0 and time.monotonic() - t < 1.0
    gps.stop()   # idempotent


def test_given_a_capture_with_a_ten_minute_hole_then_real_time_replay_shortens_it(shared_data):
    """nmea-fuzzy-cases.log jumps from 13:28:33 to 13:38:..; max_gap_s bounds each wait."""
    epochs = list(CaptureSource(shared_data / "nmea" / "gpsd" / "nmea-fuzzy-cases.log").epochs())
    assert len(epochs) == 14 and max(e.gap_s for e in epochs) > 60
    gps = GpsPty(CaptureSource(shared_data / "nmea" / "gpsd" / "nmea-fuzzy-cases.log"), speed=10, max_gap_s=0.5)
    try:
        t = time.monotonic()
        gps.start()
        assert gps.wait_done(5)
        assert time.monotonic() - t < 14 * 0.5 / 10 + 1.0
    finally:
        gps.stop()


def test_given_a_stopped_gps_when_started_again_then_it_writes_the_same_source_on_a_new_pty(gps_pty):
    """What a tracker restart does: the firmware stops first, the pty is hung up, and the GPS
    comes back on a fresh pty with the same source."""
    gps = gps_pty(RouteSource(ROUTE[:1], park_s=None, start_ts=1763800000), speed=20)
    first = gps.open()
    gps.start()
    gps.stop()
    second = gps.open()
    with serial.Serial(second, 9600, timeout=0.1) as port:
        gps.start()
        got = _read_for(port, 0.5)
    assert gps.master is not None and _fixes(got), (first, second)
    assert {(f["lat"], f["lon"]) for f in _fixes(got)} == {ROUTE[0]}
