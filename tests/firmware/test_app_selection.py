"""One firmware entry (firmware.main) for every device: the app is the one config.json names, the
board is the port's board for that app, and a setting the board cannot honour is a clear reason on
the LED and in the log, not a crash."""
from __future__ import annotations

import time

import pytest

from simulators.gps import NoFixSource
from simulators.gps.firmware_tracker import FirmwareTracker
from tests.conftest import SERVER_PASS, SERVER_USER
from tests.firmware.conftest import FAST
from tests.support.firmware_center import CenterStandIn

TRK, TRK_PASS = "trk-pmi-02", "pw-pmi-02"


@pytest.fixture
def tracker_center(broker):
    broker.add_account(TRK, TRK_PASS)
    broker.reload()
    c = CenterStandIn(broker.host, broker.port, SERVER_USER, SERVER_PASS)
    try:
        yield c
    finally:
        c.close()


def test_given_a_config_that_says_app_tracker_when_the_device_entry_boots_then_the_tracker_comes_online(
        broker, tracker_center, tmp_path):
    """No SIAGA_APP: the provisioned config.json alone selects the tracker and its sim board
    (GPS UART, crew keys); it announces itself as a tracker."""
    trk = FirmwareTracker(tmp_path / "trk", TRK, TRK_PASS, broker.host, broker.port, app="tracker",
                          backoff_min_ms=100, backoff_max_ms=1000, keepalive_s=5, connect_timeout_ms=2000)
    try:
        trk.set_gps_source(NoFixSource())
        trk.start()
        [status] = tracker_center.wait_uplinks("status", 1, timeout=10, where=lambda d: d["state"] == "online")
        assert status["kind"] == "tracker" and status["dev"] == TRK
        st = trk.state()
        assert "backlog" in st and "gps_errors" in st, "the tracker's state, from the tracker's board"
        assert "app=tracker by=config.json" in trk.output()
    finally:
        trk.stop()


@pytest.mark.parametrize("settings, reason", [
    (dict(sms_after_s=5, center_number="+622270112112", sms_key="6b" * 32), "sms_after_s is set but this board has no modem"),
    (dict(link="gsm"), "link is gsm but this board has no modem"),
], ids=["sms_armed", "link_gsm"])
def test_given_gsm_settings_on_a_board_without_a_modem_then_config_error_and_the_reason_is_logged(
        center, make_button, settings, reason):
    """SOS by SMS or a GSM link, but no modem wired (the sim port's SIAGA_MODEM unset): the button
    shows config_error and says why, instead of pretending the fallback is armed or quietly
    running on another network."""
    btn = make_button(**settings)
    btn.start()
    assert btn.wait_feedback("config_error", 5), btn.output()[-1500:]
    out = btn.output()
    assert "modem_missing" in out and reason in out, out[-1500:]
    time.sleep(0.3)
    assert btn.running and center.uplinks("status") == [], "not connecting with a config it cannot honour"
