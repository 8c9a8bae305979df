# Runs under the MicroPython binary: the firmware's own MQTT client (firmware.app.mqtt_link) over
# the GSM network link (protocols.at.data.GsmNet) on a simulated SIM800 reached through a pty.
# Prints one JSON line per fact the test checks. Env: SIAGA_MODEM (pty), SIAGA_MQTT (host:port),
# SIAGA_DEV, SIAGA_PASS.
import json
import os
import time

from protocols.at.modem import Modem
from protocols.at.data import GsmNet
from firmware.app.mqtt_link import MqttLink
from protocols import topics
from tests.gsm.mpy_uart import PtyUart


def say(**kw):
    print(json.dumps(kw))


def main():
    dev = os.getenv("SIAGA_DEV")
    host, port = os.getenv("SIAGA_MQTT").split(":")
    modem = Modem(PtyUart(os.getenv("SIAGA_MODEM")))
    say(sim=modem.init())
    net = GsmNet(modem, "internet")
    got = []
    acks = []
    ups = []
    link = MqttLink(net, {
        "client_id": dev, "user": dev, "password": os.getenv("SIAGA_PASS"), "host": host, "port": int(port),
        "tls": False, "keepalive_s": 30, "will_topic": topics.up(dev, "status"), "will_payload": b"{}",
        "subscriptions": [(topics.subscription_down(dev), 1)], "backoff_min_ms": 100, "backoff_max_ms": 500,
        "connect_timeout_ms": 10000,
    }, lambda level, event, **kw: say(log=event, **kw), lambda n: 0, on_message=lambda t, p: got.append((t, p)),
        on_up=lambda: ups.append(1), on_puback=lambda pid: acks.append(pid))
    deadline = time.ticks_add(time.ticks_ms(), 20000)
    pid = None
    while time.ticks_diff(deadline, time.ticks_ms()) > 0:
        link.step()
        if link.is_up() and pid is None:
            say(up=True)
            pid = link.publish(topics.up(dev, "alarm"), b'{"hello":"via SIM800"}', 1)
        if acks and got:
            break
        net.wait(20, link.sock)
    say(puback=acks, messages=[[t.decode() if type(t) is not str else t, p.decode()] for t, p in got])
    link.close()


main()
