"""Over-the-air update of the tracker firmware (firmware/app/tracker.py shares the button's update
code, firmware/app/ota.py): the real tracker under the MicroPython binary, against the real broker
and the server's update link serving a tracker release built with mpy-cross and signed, downloads
it, switches, and its trial boot is confirmed after its heartbeat from the new release; its SOS
still gets through on the new release."""
from __future__ import annotations

import json

import pytest

from fleet_server.releases import bundle, keys
from fleet_server.releases.serve import OtaServer, ReleaseFiles
from fleet_server.settings import Broker
from simulators.gps import NoFixSource
from tests.conftest import SERVER_PASS, SERVER_USER
from tests.firmware.test_ota import Reports
from tests.firmware.test_tracker import TRK, _link_up, center, make_tracker  # noqa: F401 (fixtures)

VERSION = "1.2.0"


@pytest.fixture
def update_link(broker, tmp_path):
    key_dir = tmp_path / "release-keys"
    keys.create(key_dir)
    releases = tmp_path / "releases"
    bundle.build(VERSION, "tracker", ["sim"], "1.0.0", key_dir, releases, created=1_796_000_000)
    rep = Reports()
    s = OtaServer(Broker(host=broker.host, port=broker.port, username=SERVER_USER, password=SERVER_PASS,
                         client_id="ota-tracker-test"), ReleaseFiles(releases), rep).start()
    assert s.connected.wait(10)
    s.reports, s.key_dir = rep, key_dir
    try:
        yield s
    finally:
        s.stop()


def test_given_a_tracker_release_when_offered_then_the_tracker_downloads_switches_and_is_confirmed(
        center, make_tracker, update_link):
    trk = make_tracker(heartbeat_s=5)
    (trk.flash / "release.pub").write_text(keys.load_public(update_link.key_dir).hex() + "\n")
    trk.set_gps_source(NoFixSource())
    trk.start()
    _link_up(trk)
    update_link.offer(TRK, VERSION, 60)
    assert update_link.reports.wait("confirmed", dev=TRK, timeout=120), (update_link.reports.states(TRK),
                                                                          trk.output()[-3000:])
    assert update_link.reports.states(TRK)[:2] == ["offered", "downloading"]
    p = json.loads((trk.flash / "ota" / "slot.json").read_text())
    assert (p["ver"], p["trial"]) == (VERSION, False)
    # The new release speaks for itself in its heartbeat, and its crew SOS still arrives.
    assert center.wait_uplinks("health", where=lambda h: h["fw"] == "tracker-" + VERSION, timeout=20), \
        trk.output()[-2000:]
    trk.sos()
    assert center.wait_uplinks("alarm", 1, timeout=10), trk.output()[-2000:]
    assert "ota_boot" in trk.output() and "ImportError" not in trk.output()
