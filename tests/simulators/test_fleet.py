"""Protocol-level simulated devices speak the real protocol: a crowd of buttons connects to the real
broker with per-device accounts, every alarm is resent until the application ack for its own
(boot, seq) arrives, and trackers accept a dispatch order and drive to the scene."""
import asyncio

from tests.support import aio
import threading
import time

from protocols import codec_json, topics
from protocols.rejection import Rejection
from simulators.fleet.button import SimButton
from simulators.fleet.tracker import SimTracker, step_toward
from tests.conftest import SERVER_USER, SERVER_PASS
from tests.support.mqtt import Recorder


class AckingServer:
    """Plays the fleet server: acks every alarm it receives, but only after `delay_acks` have been
    ignored (to prove the device resends until the app-level ack)."""

    def __init__(self, broker, ignore_first: int = 0):
        self.ignore_left = ignore_first
        self.rec = Recorder(broker.host, broker.port, SERVER_USER, SERVER_PASS,
                            topics=(topics.subscription_up("+"),))
        self.lock = threading.Lock()
        self.seen: dict[tuple, int] = {}
        self.rec.client.message_callback_add(topics.subscription_up("alarm"), self._alarm)

    def _alarm(self, client, userdata, m):
        msg = codec_json.decode(m.payload, m.topic)
        assert not isinstance(msg, Rejection), msg
        key = (msg["dev"], msg["boot"], msg["seq"])
        with self.lock:
            self.seen[key] = self.seen.get(key, 0) + 1
            if self.ignore_left > 0:
                self.ignore_left -= 1
                return
        ack = {"v": 1, "t": "ack", "dev": msg["dev"], "boot": msg["boot"], "seq": msg["seq"], "inc": 7,
               "ts": int(time.time())}
        client.publish(topics.down(msg["dev"], "ack"), codec_json.encode(ack), qos=1)


def test_a_crowd_of_buttons_each_gets_its_own_acks(broker):
    n = 150
    for i in range(n):
        broker.add_account(f"btn-{i:04d}", f"pw-{i}")
    broker.reload()
    server = AckingServer(broker, ignore_first=20)

    async def run():
        buttons = [SimButton(f"btn-{i:04d}", f"pw-{i}", broker.host, broker.port, lat=-6914744 + i, lon=107609810,
                             category="medical", resend_s=0.5, heartbeat_s=3600) for i in range(n)]
        await asyncio.gather(*(b.start() for b in buttons))
        keys = [b.press() for b in buttons]
        deadline = time.monotonic() + 30
        while any(b.outbox for b in buttons) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        result = [(b.device_id, k, k in b.acked, b.feedback) for b, k in zip(buttons, keys)]
        await asyncio.gather(*(b.stop() for b in buttons))
        return result

    try:
        result = aio.run(run())
    finally:
        server.rec.close()
    assert all(acked for _, _, acked, _ in result), [r for r in result if not r[2]][:5]
    assert all(fb == "received" for *_, fb in result)
    # 20 alarms went unacked at first: they were resent, so the server saw them more than once.
    assert sum(1 for c in server.seen.values() if c > 1) >= 20
    assert len(server.seen) == n


def test_a_device_cannot_publish_as_another(broker):
    broker.add_account("btn-a", "pw-a")
    broker.add_account("btn-b", "pw-b")
    broker.reload()
    rec = Recorder(broker.host, broker.port, SERVER_USER, SERVER_PASS, topics=(topics.subscription_up("+"),))

    async def run():
        a = SimButton("btn-a", "pw-a", broker.host, broker.port, lat=0, lon=0, heartbeat_s=3600)
        await a.start()
        await a.connected.wait()
        forged = dict(a.header("alarm"), dev="btn-b", ts=int(time.time()), cat="fire", trig="button", presses=1,
                      lat=0, lon=0, src="fixed", acc=5, age=0)
        a.client.publish(topics.up("btn-b", "alarm"), codec_json.encode(forged), qos=1)
        a.press()
        await asyncio.sleep(1.0)
        await a.stop()

    try:
        aio.run(run())
        alarms = rec.wait_for(lambda m: m.topic.endswith("/up/alarm"), timeout=3)
    finally:
        rec.close()
    assert [m.topic for m in alarms] == [topics.up("btn-a", "alarm")]


def test_tracker_accepts_dispatch_and_drives_on_scene(broker):
    broker.add_account("trk-amb-01", "pw")
    broker.reload()
    rec = Recorder(broker.host, broker.port, SERVER_USER, SERVER_PASS, topics=(topics.subscription_up("+"),))
    target = (-6914744, 107609810)

    async def run():
        t = SimTracker("trk-amb-01", "pw", broker.host, broker.port, lat=-6921000, lon=107604000,
                       speed_mps=400.0, report_s=1.0, time_scale=10.0, heartbeat_s=3600)
        await t.start()
        await t.connected.wait()
        now = int(time.time())
        order = {"v": 1, "t": "cmd", "dev": "trk-amb-01", "id": "d-1-1", "ts": now, "exp": now + 60,
                 "op": "dispatch", "inc": 1, "lat": target[0], "lon": target[1], "cat": "medical"}
        rec.publish(topics.down("trk-amb-01", "cmd"), codec_json.encode(order))
        deadline = time.monotonic() + 15
        while t.crew != "onscene" and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await t.stop()
        return t

    try:
        t = aio.run(run())
        res = rec.wait_for(lambda m: m.topic.endswith("/up/cmdres"), timeout=3)
        crews = rec.wait_for(lambda m: m.topic.endswith("/up/crew"), count=2, timeout=3)
    finally:
        rec.close()
    assert (t.lat, t.lon) == target and t.crew == "onscene"
    assert codec_json.decode(res[0].payload)["res"] == "accepted"
    assert [codec_json.decode(m.payload)["crew"] for m in crews][:2] == ["enroute", "onscene"]


def test_step_toward_lands_exactly_and_keeps_heading():
    lat, lon, left, hdg = step_toward(0, 0, 1000000, 0, 50_000)   # ~111 km north, 50 km step
    assert 440_000 < lat < 460_000 and lon == 0 and 60_000 < left < 62_000 and hdg == 0
    assert step_toward(0, 0, 10, 10, 1e6)[:3] == (10, 10, 0.0)
