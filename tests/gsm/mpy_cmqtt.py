# Runs under the MicroPython binary: the SIM7600 CMQTT link (protocols.at.data.CmqttLink) on
# a simulated SIM7600 reached through a pty. Publishes once, waits for one message, prints JSON.
# Env: SIAGA_MODEM, SIAGA_MQTT (host:port), SIAGA_DEV, SIAGA_PASS.
import json
import os
import time

from protocols.at.modem import Modem
from protocols.at.data import CmqttLink
from protocols import topics
from tests.gsm.mpy_uart import PtyUart


def main():
    dev = os.getenv("SIAGA_DEV")
    host, port = os.getenv("SIAGA_MQTT").split(":")
    modem = Modem(PtyUart(os.getenv("SIAGA_MODEM")))
    modem.init()
    got = []
    link = CmqttLink(modem, {"client_id": dev, "user": dev, "password": os.getenv("SIAGA_PASS"), "host": host,
                             "port": int(port), "keepalive_s": 30, "subscriptions": [(topics.subscription_down(dev), 1)],
                             "backoff_min_ms": 100, "backoff_max_ms": 400, "connect_timeout_ms": 10000},
                     on_message=lambda t, p: got.append([t, p.decode()]))
    pid = None
    deadline = time.ticks_add(time.ticks_ms(), 20000)
    while time.ticks_diff(deadline, time.ticks_ms()) > 0 and not got:
        link.step()
        if link.is_up() and pid is None:
            pid = link.publish(topics.up(dev, "alarm"), b'{"hello":"via SIM7600"}', 1)
        time.sleep_ms(20)
    print(json.dumps({"pid": pid, "messages": got, "connects": link.connects}))
    link.close()


main()
