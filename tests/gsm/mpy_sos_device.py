# Runs under the MicroPython binary: a field device built from the firmware's GSM modules on a
# simulated SIM800 (pty). It raises one alarm, sends it over MQTT (firmware.app.mqtt_link over
# GsmNet) and, when no application ack arrived within SIAGA_SMS_AFTER_MS, also as the signed SOS SMS
# (firmware.app.modem_sos); it keeps retrying MQTT until the server's ack. One JSON line per event.
import json
import os
import time

from protocols.at.modem import Modem
from protocols.at.data import GsmNet
from firmware.app.modem_sos import SmsUplink
from firmware.app.mqtt_link import MqttLink
from protocols import codec_json, topics
from tests.gsm.mpy_uart import PtyUart


def say(**kw):
    print(json.dumps(kw))


def main():
    dev = os.getenv("SIAGA_DEV")
    host, port = os.getenv("SIAGA_MQTT").split(":")
    sms_after = int(os.getenv("SIAGA_SMS_AFTER_MS"))
    alarm = json.loads(os.getenv("SIAGA_ALARM"))
    modem = Modem(PtyUart(os.getenv("SIAGA_MODEM")))
    modem.init()
    sms = SmsUplink(modem, os.getenv("SIAGA_CENTER"), bytes.fromhex(os.getenv("SIAGA_KEY")),
                    log=lambda level, ev, **kw: say(log=ev, **kw))
    net = GsmNet(modem, "internet", check_every_ms=500)
    acked = []

    def on_message(topic, payload):
        msg = codec_json.decode(payload, topic)
        if type(msg) is dict and msg.get("t") == "ack" and msg["seq"] == alarm["seq"] and msg["boot"] == alarm["boot"]:
            acked.append(msg["inc"])

    link = MqttLink(net, {
        "client_id": dev, "user": dev, "password": os.getenv("SIAGA_PASS"), "host": host, "port": int(port),
        "tls": False, "keepalive_s": 30, "will_topic": topics.up(dev, "status"), "will_payload": b"",
        "subscriptions": [(topics.subscription_down(dev), 1)], "backoff_min_ms": 200, "backoff_max_ms": 600,
        "connect_timeout_ms": 3000,
    }, lambda level, ev, **kw: say(log=ev, **kw), lambda n: 0, on_message=on_message)
    payload = codec_json.encode(alarm)
    t0 = time.ticks_ms()
    last_pub = None
    sms_ref = None
    deadline = time.ticks_add(t0, int(os.getenv("SIAGA_RUN_MS")))
    while time.ticks_diff(deadline, time.ticks_ms()) > 0 and not acked:
        link.step()
        now = time.ticks_ms()
        if link.is_up() and (last_pub is None or time.ticks_diff(now, last_pub) > 2000):
            if link.publish(topics.up(dev, "alarm"), payload, 1) is not None:
                last_pub = now
                say(mqtt_publish=alarm["seq"])
        if sms_ref is None and time.ticks_diff(now, t0) > sms_after:
            sms_ref = sms.send_alarm(alarm)
            if sms_ref is None:
                t0 = now  # the network refused: try the SMS again after another sms_after
        net.wait(20, link.sock)
    say(acked=acked, sms_ref=sms_ref)
    link.close()


main()
