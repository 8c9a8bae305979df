"""The two fidelities of a simulated button — the real firmware under MicroPython and the
protocol-level SimButton — behave alike on the wire: same topics, same message types, same field
sets, retained birth and will, QoS 1 alarms resent until the application ack, a second press while
the alarm is active folding into it, and an ack for an unknown seq changing nothing."""
import threading
import time

from protocols import codec_json, topics
from protocols.rejection import Rejection
from simulators.devices.firmware_button import FirmwareButton
from simulators.fleet.button import SimButton
from tests.conftest import SERVER_USER, SERVER_PASS
from tests.support import aio
from tests.support.mqtt import Recorder

SITE = (-6921670, 107604500)


class Wire:
    """Plays the server for one device: records its uplink, withholds the first ack of each alarm so
    the device must resend, then acks; also sends one stray ack for a seq it never sent."""

    def __init__(self, broker, device_id):
        self.device_id = device_id
        self.rec = Recorder(broker.host, broker.port, SERVER_USER, SERVER_PASS,
                            topics=(f"siaga/v1/dev/{device_id}/up/+",))
        self.seen: dict[tuple, int] = {}
        self.lock = threading.Lock()
        self.rec.client.message_callback_add(topics.up(device_id, "alarm"), self._alarm)

    def _alarm(self, client, userdata, m):
        self.rec._on_message(client, userdata, m)   # a topic callback replaces on_message: record it too
        msg = codec_json.decode(m.payload, m.topic)
        key = (msg["boot"], msg["seq"])
        with self.lock:
            self.seen[key] = self.seen.get(key, 0) + 1
            if self.seen[key] < 2:
                stray = {"v": 1, "t": "ack", "dev": msg["dev"], "boot": msg["boot"], "seq": msg["seq"] + 1000,
                         "inc": 99, "ts": int(time.time())}
                client.publish(topics.down(msg["dev"], "ack"), codec_json.encode(stray), qos=1)
                return
        ack = {"v": 1, "t": "ack", "dev": msg["dev"], "boot": msg["boot"], "seq": msg["seq"], "inc": 5,
               "ts": int(time.time())}
        client.publish(topics.down(msg["dev"], "ack"), codec_json.encode(ack), qos=1)

    def uplink(self):
        out = []
        for m in self.rec.matching(lambda m: True):
            msg = codec_json.decode(m.payload, m.topic)
            assert not isinstance(msg, Rejection), (m.topic, m.payload, msg)
            out.append((m.topic.rsplit("/", 1)[1], m.qos, m.retain, msg))
        return out


def _shape(uplink):
    """What must match between fidelities: per message type, the set of fields; the order of first
    appearance of types; alarms' (boot, seq) distinct per press; retained status with seq 0."""
    kinds, fields = [], {}
    for kind, qos, retain, msg in uplink:
        if kind not in kinds:
            kinds.append(kind)
        fields.setdefault(kind, set()).update(k for k in msg if msg[k] is not None)
    return kinds, fields


def _run_firmware(broker, tmp_path):
    broker.add_account("btn-fw", "pw-fw")
    broker.reload()
    wire = Wire(broker, "btn-fw")
    btn = FirmwareButton(tmp_path / "fw", "btn-fw", "pw-fw", broker.host, broker.port, category="police",
                         lat=SITE[0], lon=SITE[1], hold_ms=200, heartbeat_s=2, resend_s=1)
    try:
        btn.start()
        assert btn.wait_feedback("idle", timeout=15)
        time.sleep(2.5)                       # one heartbeat
        for _ in range(2):
            btn.press()
            assert btn.wait_feedback("received", timeout=15), btn.output()[-1500:]
            time.sleep(1.5)
        return wire.uplink(), dict(wire.seen)
    finally:
        btn.stop()
        wire.rec.close()


def _run_sim(broker):
    broker.add_account("btn-sim", "pw-sim")
    broker.reload()
    wire = Wire(broker, "btn-sim")

    async def go():
        b = SimButton("btn-sim", "pw-sim", broker.host, broker.port, lat=SITE[0], lon=SITE[1], category="police",
                      heartbeat_s=2, resend_s=1)
        await b.start()
        await b.connected.wait()
        import asyncio
        await asyncio.sleep(2.5)
        for _ in range(2):
            key = b.press()
            deadline = time.monotonic() + 15
            while key not in b.acked and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert b.feedback == "received"
            await asyncio.sleep(1.5)
        await b.stop()

    try:
        aio.run(go())
        return wire.uplink(), dict(wire.seen)
    finally:
        wire.rec.close()


def test_firmware_and_protocol_level_buttons_look_alike_on_the_wire(broker, tmp_path):
    fw, fw_seen = _run_firmware(broker, tmp_path)
    sim, sim_seen = _run_sim(broker)
    for uplink, seen in ((fw, fw_seen), (sim, sim_seen)):
        status = [(q, r, m) for k, q, r, m in uplink if k == "status"]
        assert status and status[0][2]["state"] == "online" and status[0][2]["seq"] == 0
        alarms = [(q, m) for k, q, r, m in uplink if k == "alarm"]
        assert all(q == 1 for q, _ in alarms)
        keys = {(m["boot"], m["seq"]) for _, m in alarms}
        assert len(keys) == 1, "the second press came while the alarm was active: it folds into it"
        assert all(n >= 2 for n in seen.values()), "an alarm is resent until the app ack, the stray ack cleared nothing"
        assert [m["cat"] for _, m in alarms][0] == "police" and alarms[0][1]["src"] == "fixed"
    # Birth and will are retained: a subscriber arriving after both devices stopped learns "offline".
    late = Recorder(broker.host, broker.port, SERVER_USER, SERVER_PASS, topics=("siaga/v1/dev/+/up/status",))
    try:
        got = late.wait_for(lambda m: m.retain, count=2, timeout=5)
    finally:
        late.close()
    assert sorted(codec_json.decode(m.payload)["dev"] for m in got) == ["btn-fw", "btn-sim"]
    assert all(codec_json.decode(m.payload)["state"] == "offline" for m in got)
    fw_kinds, fw_fields = _shape(fw)
    sim_kinds, sim_fields = _shape(sim)
    assert set(fw_kinds) >= {"status", "health", "alarm"} and set(sim_kinds) >= {"status", "health", "alarm"}
    for kind in ("status", "alarm"):
        assert fw_fields[kind] == sim_fields[kind], (kind, fw_fields[kind] ^ sim_fields[kind])
    # Health: the protocol-level device reports what a button always has; the firmware may add more.
    required = {"v", "t", "dev", "boot", "seq", "ts", "tamper", "stuck", "uptime", "fw"}
    assert required <= fw_fields["health"] and required <= sim_fields["health"]
