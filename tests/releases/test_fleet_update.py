"""A fleet of protocol-level buttons (simulators/fleet/ota_button.py) updated through the server's
update link on the real broker: every one confirms a full release, then a release that differs in
one file moves only that file, the manifest and its signature to each device."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from fleet_server.releases import bundle, keys
from fleet_server.releases.serve import OtaServer, ReleaseFiles
from fleet_server.settings import Broker
from simulators.fleet.ota_button import OtaSimButton
from tests.conftest import SERVER_PASS, SERVER_USER
from tests.releases.craft import derive

N = 20


def test_a_fleet_takes_a_full_release_then_only_the_changed_file(broker, tmp_path):
    keys.create(tmp_path / "keys")
    full = bundle.build("1.2.0", "button", ["sim"], "1.0.0", tmp_path / "keys", tmp_path / "releases")
    src = (Path(__file__).resolve().parents[2] / "firmware/app/feedback.py").read_text() + "\nPATCH = 1\n"
    patch = derive(full, "1.3.0", {"firmware/app/feedback.py": src}, tmp_path / "keys")
    changed = next(e for e in json.loads((patch / "manifest.json").read_bytes())["files"]
                   if e["path"] == "firmware/app/feedback.mpy")
    for i in range(N):
        broker.add_account(f"ota-{i:02d}", f"pw-{i}")
    broker.reload()
    server = OtaServer(Broker(host=broker.host, port=broker.port, username=SERVER_USER, password=SERVER_PASS,
                              client_id="fleet-ota"), ReleaseFiles(tmp_path / "releases")).start()
    assert server.connected.wait(10)

    async def run():
        devs = [OtaSimButton(f"ota-{i:02d}", f"pw-{i}", broker.host, broker.port, lat=-6900000, lon=107600000,
                             public_key=keys.load_public(tmp_path / "keys")) for i in range(N)]
        await asyncio.gather(*(d.start() for d in devs))
        await asyncio.wait_for(asyncio.gather(*(d.connected.wait() for d in devs)), 20)
        got = {}
        for ver in ("1.2.0", "1.3.0"):
            before = [d.bytes_in for d in devs]
            for d in devs:
                server.offer(d.device_id, ver, 60)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not all(d.states[-1:] == ["confirmed"] and d.version == ver
                                                          for d in devs):
                await asyncio.sleep(0.2)
            got[ver] = ([d.version for d in devs], [d.bytes_in - b for d, b in zip(devs, before)],
                        [d.states[-1] for d in devs])
        for d in devs:
            await d.stop()
        return got

    try:
        got = asyncio.run(run())
    finally:
        server.stop()
    versions, full_bytes, states = got["1.2.0"]
    assert set(versions) == {"1.2.0"} and set(states) == {"confirmed"}, states
    versions, patch_bytes, states = got["1.3.0"]
    assert set(versions) == {"1.3.0"} and set(states) == {"confirmed"}, states
    sizes = {(patch / "manifest.json").stat().st_size + 64 + changed["size"]}
    assert set(patch_bytes) == sizes, (patch_bytes, sizes)
    assert max(patch_bytes) * 5 < min(full_bytes)


def test_given_an_alarm_at_the_server_when_devices_download_then_no_part_goes_out_until_it_is_through(
        broker, tmp_path):
    """alarm_seen() (the ingest's alarm lane calls it) holds part serving for alarm_quiet_s; the
    download resumes by itself after it (the parts waited in the update link's socket)."""
    keys.create(tmp_path / "keys")
    bundle.build("1.2.0", "button", ["sim"], "1.0.0", tmp_path / "keys", tmp_path / "releases")
    broker.add_account("ota-quiet", "pw-quiet")
    broker.reload()
    server = OtaServer(Broker(host=broker.host, port=broker.port, username=SERVER_USER, password=SERVER_PASS,
                              client_id="fleet-ota-quiet"), ReleaseFiles(tmp_path / "releases"),
                       alarm_quiet_s=2.0).start()
    assert server.connected.wait(10)

    async def run():
        dev = OtaSimButton("ota-quiet", "pw-quiet", broker.host, broker.port, lat=-6900000, lon=107600000,
                           public_key=keys.load_public(tmp_path / "keys"))
        await dev.start()
        await asyncio.wait_for(dev.connected.wait(), 20)
        server.offer(dev.device_id, "1.2.0", 60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.stats["parts"] < 20:
            await asyncio.sleep(0.05)
        server.alarm_seen()
        await asyncio.sleep(0.3)          # a part already on its way may still land
        held = server.stats["parts"]
        await asyncio.sleep(1.2)          # well inside the 2 s quiet window
        during = server.stats["parts"] - held
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and dev.states[-1:] != ["confirmed"]:
            await asyncio.sleep(0.1)
        await dev.stop()
        return held, during, dev.states[-1]

    try:
        held, during, last = asyncio.run(run())
    finally:
        server.stop()
    assert held >= 20 and during == 0, (held, during)
    assert last == "confirmed"
