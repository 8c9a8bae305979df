"""The firmware as a Linux process (the sim and rpi ports run it under the MicroPython unix binary):
started as a service is, in a session of its own, with its GPS on a pty; stopped with Ctrl-C."""
from __future__ import annotations

import os
import re
import signal

import pytest

from simulators.gps import GpsPty, RouteSource
from simulators.gps.firmware_tracker import FirmwareTracker
from tests.conftest import SERVER_PASS, SERVER_USER
from tests.support.mqtt import Recorder

TRK, TRK_PASS = "trk-pmk-03", "pw-pmk-03"
ROUTE = [(-6896301, 107598230), (-6893000, 107598230)]


@pytest.fixture
def tracker(broker, tmp_path):
    broker.add_account(TRK, TRK_PASS)
    broker.reload()
    # MpyProcess starts the firmware with start_new_session, as systemd starts a service: the
    # firmware's process leads a session of its own.
    trk = FirmwareTracker(tmp_path / "trk", TRK, TRK_PASS, broker.host, broker.port, report_s=1, parked_s=1,
                          backoff_min_ms=100, backoff_max_ms=1000, keepalive_s=5)
    trk.set_gps_source(RouteSource(ROUTE, 14), speed=1, retime_to_now=True)
    try:
        yield trk.start()
    finally:
        trk.stop()


def _positions(broker):
    return Recorder(broker.host, broker.port, SERVER_USER, SERVER_PASS, topics=(f"siaga/v1/dev/{TRK}/up/pos",))


def test_given_a_tracker_in_its_own_session_when_its_gps_pty_hangs_up_then_it_keeps_running_and_reads_a_new_one(
        tracker, broker):
    assert tracker.wait_fix(10), tracker.output()[-2000:]
    assert os.getsid(tracker.proc.proc.pid) == tracker.proc.proc.pid, "the firmware leads its session"
    tracker.gps.stop()      # the GPS simulator goes away: the pty's master closes, the slave hangs up
    st = tracker.wait_state(lambda s: s.get("gps_errors", 0) > 0, 10)
    assert st.get("gps_errors", 0) > 0, "the firmware saw the hangup and answered after it:\n" + tracker.output()[-2000:]
    assert tracker.running
    new = GpsPty(RouteSource(ROUTE, 14), speed=1, retime_to_now=True)
    rec = _positions(broker)
    try:
        tracker.request(f"gps {new.open()}")
        new.start()
        assert len(rec.wait_for(lambda m: True, count=2, timeout=15)) >= 2, tracker.output()[-2000:]
        assert tracker.running
    finally:
        new.stop()
        rec.close()


def test_given_a_running_tracker_when_ctrl_c_reaches_it_then_it_exits_cleanly_with_one_log_line(tracker):
    st = tracker.wait_state(lambda s: s.get("link") == "up", 10)
    assert st.get("link") == "up", tracker.output()[-2000:]
    proc = tracker.proc.proc
    os.killpg(proc.pid, signal.SIGINT)    # what Ctrl-C at the console sends: the foreground group
    assert proc.wait(10) == 0, tracker.output()[-2000:]
    out = tracker.output()
    assert re.search(r"^siaga info stopped t=\d+ why=interrupted$", out, re.M), out[-2000:]
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out[-2000:]
