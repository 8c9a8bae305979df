"""Over-the-air update on the real firmware (MicroPython unix binary, sim board) against the real
broker, with the server's own update link (fleet_server/releases/serve.py) serving bundles that
`siaga firmware release` built with mpy-cross and signed: the download, the checks before any
switch, the atomic switch, the trial boot and its confirm or rollback, power cuts at every step."""
from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from fleet_server.releases import bundle, keys
from fleet_server.releases.serve import OtaServer, ReleaseFiles
from fleet_server.settings import Broker
from tests.conftest import SERVER_USER, SERVER_PASS
from tests.firmware.conftest import DEV

VERSION = "1.2.0"


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("center") / "release-keys"
    keys.create(d)
    return d


@pytest.fixture(scope="module")
def built(key_dir, tmp_path_factory):
    """Release 1.2.0 for the unix binary, signed; copied per test so a test may alter its copy."""
    root = tmp_path_factory.mktemp("built")
    bundle.build(VERSION, "button", ["sim"], "1.0.0", key_dir, root, created=1_796_000_000)
    return root


@pytest.fixture
def releases(built, tmp_path):
    d = tmp_path / "releases"
    shutil.copytree(built, d)
    return d


class Reports:
    def __init__(self):
        self.seen: list[tuple[str, dict]] = []
        self.cond = threading.Condition()

    def __call__(self, dev, msg):
        with self.cond:
            self.seen.append((dev, msg))
            self.cond.notify_all()

    def states(self, dev=DEV):
        with self.cond:
            return [m["state"] for d, m in self.seen if d == dev]

    def wait(self, state, dev=DEV, timeout=60.0, ver=None):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for d, m in self.seen:
                    if d == dev and m["state"] == state and (ver is None or m["ver"] == ver):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.2))


@pytest.fixture
def server(broker, releases):
    rep = Reports()
    s = OtaServer(Broker(host=broker.host, port=broker.port, username=SERVER_USER, password=SERVER_PASS,
                         client_id="ota-test"), ReleaseFiles(releases), rep).start()
    assert s.connected.wait(10)
    s.reports = rep
    try:
        yield s
    finally:
        s.stop()


def provision_key(btn, key_dir):
    (btn.flash / "release.pub").write_text(keys.load_public(key_dir).hex() + "\n")


def pointer(btn) -> dict:
    p = btn.flash / "ota" / "slot.json"
    return json.loads(p.read_text()) if p.exists() else {}


def device_reports(center) -> list[dict]:
    """The device's update reports as the broker carried them (whoever listens on the server side)."""
    from protocols import ota
    return [ota.parse_up(m.payload) for m in center.rec.matching(lambda m: m.topic.endswith("/up/ota"))
            if ota.parse_up(m.payload).get("t") == "report"]


def wait_for(pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return pred()


def test_good_release_is_downloaded_switched_on_trial_and_confirmed(center, make_button, server, key_dir):
    btn = make_button(heartbeat_s=30)
    provision_key(btn, key_dir)
    btn.start()
    assert btn.wait_feedback("idle")
    # At rest the update stack is not in the heap: nothing on flash asks for it.
    assert "ota_stack" not in btn.output(), btn.output()[-2000:]
    server.offer(DEV, VERSION, 60)
    assert server.reports.wait("confirmed", timeout=90), (server.reports.states(), btn.output()[-3000:])
    p = pointer(btn)
    assert p["ver"] == VERSION and p["trial"] is False and p["active"] == "a"
    # Confirmed, nothing left to do: the new release lets its update stack go again.
    released = wait_for(lambda: "ota_stack" in btn.output().split("ota_confirmed")[-1]
                        and "released" in btn.output().split("ota_confirmed")[-1], timeout=20)
    assert released, btn.output()[-2000:]
    assert server.reports.states()[:2] == ["offered", "downloading"]
    # The new release's own heartbeat says what it runs, and its SOS still gets through.
    health = center.wait_uplinks("health", where=lambda h: h["fw"] == "button-" + VERSION)
    assert health, btn.output()[-2000:]
    center.auto_ack = True
    btn.press()
    assert btn.wait_feedback("received"), btn.output()[-2000:]
    assert "ota_boot" in btn.output() and "ImportError" not in btn.output()


def _source(rel: str) -> str:
    return (Path(__file__).resolve().parents[2] / rel).read_text()


def started(make_button, key_dir, **cfg):
    btn = make_button(**cfg)
    provision_key(btn, key_dir)
    btn.start()
    assert btn.wait_feedback("idle"), btn.output()[-2000:]
    return btn


def runs_provisioned_release(center, btn, since: float) -> bool:
    """Back on 1.0.0: no slot active, and a heartbeat from 1.0.0 after `since`."""
    got = center.wait_uplinks("health", timeout=20,
                              where=lambda h: h["fw"] == "button-1.0.0" and h["ts"] >= int(since))
    return bool(got) and pointer(btn).get("active") is None


@pytest.mark.parametrize("broken", ["import", "start"])
def test_release_that_crashes_at_boot_is_rolled_back_by_the_device(center, make_button, server, releases, key_dir,
                                                                  broken):
    from tests.releases.craft import derive
    if broken == "import":
        sources = {"firmware/app/feedback.py": _source("firmware/app/feedback.py") + "\nraise RuntimeError('broken')\n"}
    else:
        src = _source("firmware/app/panic_button.py")
        sources = {"firmware/app/panic_button.py": src.replace('        self.fb.show("selftest")\n',
                                                               '        raise RuntimeError("broken start")\n', 1)}
    derive(releases / VERSION, "1.3.0", sources, key_dir)
    btn = started(make_button, key_dir, heartbeat_s=2)
    t0 = time.time()
    server.offer(DEV, "1.3.0", 60)
    back = server.reports.wait("rolled_back", ver="1.3.0", timeout=90)
    assert back, (server.reports.states(), btn.output()[-3000:])
    assert back["why"].startswith("import_failed" if broken == "import" else "start_failed"), back
    assert "confirmed" not in server.reports.states()
    assert runs_provisioned_release(center, btn, t0), btn.output()[-2000:]
    center.auto_ack = True
    btn.press()
    assert btn.wait_feedback("received"), btn.output()[-2000:]


def test_trial_never_confirmed_falls_back_after_trial_s(center, make_button, server, key_dir):
    btn = started(make_button, key_dir, heartbeat_s=2)
    server.offer(DEV, VERSION, 10)
    assert server.reports.wait("switched", timeout=90), server.reports.states()
    server.stop()                       # the center never hears the trial boot
    t0 = time.time()
    assert wait_for(lambda: "no_confirm" in btn.output(), timeout=40), btn.output()[-3000:]
    assert runs_provisioned_release(center, btn, t0), btn.output()[-2000:]
    told = wait_for(lambda: [m for m in device_reports(center) if m["state"] == "rolled_back"], 10)
    assert told and told[0]["ver"] == VERSION and told[0]["why"].startswith("no_confirm"), told


def test_trial_that_keeps_resetting_falls_back_at_boot(center, make_button, server, key_dir):
    """A release that hangs is reset by the watchdog (here: SIGKILL and power on); each trial boot
    is counted before its code runs, and past MAX_TRIAL_BOOTS the previous release boots."""
    btn = started(make_button, key_dir)
    server.offer(DEV, VERSION, 600)
    assert server.reports.wait("switched", timeout=90), server.reports.states()
    server.stop()
    assert wait_for(lambda: pointer(btn).get("boots") == 1, 10), pointer(btn)
    for boots in (2, 3):
        btn.kill()
        btn.start()
        assert wait_for(lambda: pointer(btn).get("boots") == boots, 10), (pointer(btn), btn.output()[-3000:])
    btn.kill()
    btn.start()
    assert wait_for(lambda: pointer(btn).get("active") is None, 10), pointer(btn)
    assert "trial_boots 3" in btn.output()
    assert btn.wait_feedback("idle"), btn.output()[-2000:]


@pytest.mark.parametrize("damage", ["one_byte", "signature"])
def test_altered_release_is_refused_before_any_switch(center, make_button, server, releases, key_dir, tmp_path,
                                                      damage):
    if damage == "one_byte":
        f = releases / VERSION / "files" / "firmware" / "app" / "outbox.mpy"
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 0x01
        f.write_bytes(bytes(data))
    else:
        other = tmp_path / "other-key"
        keys.create(other)
        from protocols import release as wire
        body = (releases / VERSION / "manifest.json").read_bytes()
        (releases / VERSION / "manifest.sig").write_bytes(keys.load_private(other).sign(wire.signed_message(body)))
    btn = started(make_button, key_dir)
    server.offer(DEV, VERSION, 60)
    refused = server.reports.wait("refused", timeout=90)
    assert refused, (server.reports.states(), btn.output()[-3000:])
    want = "hash_mismatch firmware/app/outbox.mpy" if damage == "one_byte" else "bad_signature"
    assert refused["why"].startswith(want), refused
    assert "switched" not in server.reports.states()
    assert not (btn.flash / "ota" / "slot.json").exists()
    assert "ota_boot" not in btn.output()
    assert btn.state()["link"] == "up"


def test_power_cut_at_every_step_boots_a_working_release_and_keeps_the_outbox(center, make_button, server, key_dir):
    btn = started(make_button, key_dir)
    btn.press()                                        # an SOS the center does not ack yet
    alarm = center.wait_uplinks("alarm")[0]
    assert btn.state()["pending"] == 1
    server.offer(DEV, VERSION, 120)
    slot = btn.flash / "ota" / "a"
    state = btn.flash / "ota" / "dl.json"
    steps = {
        "download": lambda: any(slot.rglob("*.part")),
        "verify": lambda: state.exists() and json.loads(state.read_text() or "{}").get("phase") == "verify",
        "switch": lambda: pointer(btn).get("active") == "a",
        "trial": lambda: "ota_trial" in btn.output(),
    }
    for name, reached in steps.items():
        assert wait_for(reached, 90), (name, server.reports.states(), btn.output()[-3000:])
        btn.kill()
        btn.start()
        assert btn.state()["pending"] == 1, name
    assert server.reports.wait("confirmed", timeout=90), (server.reports.states(), btn.output()[-3000:])
    assert pointer(btn)["ver"] == VERSION
    center.ack(alarm)                                   # the same alarm, kept through every cut
    assert wait_for(lambda: btn.state()["pending"] == 0, 20), btn.output()[-2000:]


def test_sos_pressed_mid_download_is_acked(center, make_button, server, key_dir):
    center.auto_ack = True
    btn = started(make_button, key_dir)
    server.offer(DEV, VERSION, 60)
    assert wait_for(lambda: any((btn.flash / "ota" / "a").rglob("*.part")), 60), btn.output()[-2000:]
    btn.press()
    assert btn.wait_feedback("received"), btn.output()[-2000:]
    assert server.reports.wait("confirmed", timeout=90), server.reports.states()


def test_next_release_downloads_only_the_changed_file(center, make_button, server, releases, key_dir):
    from tests.releases.craft import derive
    feedback = _source("firmware/app/feedback.py").replace("# ", "#  ", 1) + "\nCHANGED = 1\n"
    derive(releases / VERSION, "1.3.0", {"firmware/app/feedback.py": feedback}, key_dir)
    btn = started(make_button, key_dir)
    server.offer(DEV, VERSION, 60)
    assert server.reports.wait("confirmed", ver=VERSION, timeout=90), server.reports.states()
    full = sum(n for (v, _), n in server.served.items() if v == VERSION)
    server.offer(DEV, "1.3.0", 60)
    assert server.reports.wait("confirmed", ver="1.3.0", timeout=90), (server.reports.states(), btn.output()[-3000:])
    paths = {p for (v, p) in server.served if v == "1.3.0"}
    assert paths == {"manifest.json", "manifest.sig", "firmware/app/feedback.mpy"}, paths
    one = sum(n for (v, _), n in server.served.items() if v == "1.3.0")
    assert one < full / 5, (one, full)
    p = pointer(btn)
    assert (p["active"], p["ver"], p["prev"], p["prev_ver"]) == ("b", "1.3.0", "a", VERSION)
    center.auto_ack = True
    btn.press()
    assert btn.wait_feedback("received"), btn.output()[-2000:]
