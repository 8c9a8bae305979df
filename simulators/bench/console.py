"""What the dispatcher waits for: a button press -> its row in the console's queue, measured in
headless Chromium (Debian's /usr/bin/chromium) against the real fleet server and Mosquitto.

Two phases in one run:
1. idle: the queue grows from empty; one press every PACE_S from a different registered button
   (sites 400 m apart, so no two alarms fold into one incident).
2. busy: the same with QUEUE_LOAD open non-emergency reports already in the queue (created through
   POST /api/v1/incidents/reports), so every feed event re-renders a long queue and redraws the map.

Latency per press = the page's Date.now() when the incident's row first appears in #queue (a
MutationObserver) - the wall clock when the alarm was handed to paho (QoS 1). Same machine, same
clock. It includes MQTT, ingest and commit, the WebSocket event, the console's fetch of the incident,
and the render.

`python -m simulators.bench.console [--smoke]`  -> bench/results/console.json"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import sync_playwright

from fleet_server.broker import Mosquitto
from fleet_server.process import FleetServer
from protocols import codec_json, topics
from simulators.bench.results import percentiles, write

CHROMIUM = "/usr/bin/chromium"
SERVER_USER, SERVER_PASS = "fleet-server", "server-secret"
DISPATCHER = ("bench-dispatcher", "bench-dispatcher-pw")
PACE_S = 0.5
# Bandung's centre; buttons on a grid 400 m apart (0.0036 degrees), far beyond the 150 m fold radius.
LAT0, LON0, STEP = -6930000, 107570000, 3600

OBSERVER = """() => {
  window.benchSeen = {};
  const mark = () => { for (const el of document.querySelectorAll('#queue [data-incident]'))
    window.benchSeen[el.dataset.incident] ??= Date.now(); };
  new MutationObserver(mark).observe(document.getElementById('queue'), {childList: true, subtree: true});
  mark();
}"""


class Button:
    """A registered button speaking the protocol with paho. Only the timed buttons hold their
    connection: paho's loop waits in select(), which takes no descriptor above 1023, and each client
    holds three, so a few hundred held clients in one process stop delivering without a word."""

    def __init__(self, broker, srv, n: int, held: bool = True):
        self.id = f"bench-btn-{n:03d}"
        self.lat, self.lon = LAT0 + (n // 10) * STEP, LON0 + (n % 10) * STEP
        self.seq = 0
        self.broker, self.held = broker, held
        self.client: mqtt.Client | None = None
        srv.api("POST", "/devices", json={"id": self.id, "kind": "button", "site": f"Bench site {n}",
                                          "lat_udeg": self.lat, "lon_udeg": self.lon, "category": "medical"}).raise_for_status()
        if held:
            self._open()

    def _open(self) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.id)
        self.client.username_pw_set(self.id, "pw-" + self.id)
        self.client.connect(self.broker.host, self.broker.port, keepalive=60)
        self.client.loop_start()

    def send(self, msg_type: str, **fields) -> float:
        if self.client is None:
            self._open()
        self.seq += 1
        msg = {"v": 1, "t": msg_type, "dev": self.id, "boot": 1, "seq": self.seq, **fields}
        at = time.time()
        info = self.client.publish(topics.up(self.id, msg_type), codec_json.encode(msg), qos=1)
        info.wait_for_publish(5)
        if not info.is_published():
            raise RuntimeError(f"{self.id}: the broker did not take its {msg_type} within 5 s")
        if not self.held:
            self.close()
        return at

    def press(self) -> float:
        return self.send("alarm", ts=int(time.time()), cat="medical", trig="button", presses=1, lat=self.lat,
                         lon=self.lon, src="fixed", acc=10, age=0)

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()   # first: the loop thread then ends at once, not at its next wake
            self.client.loop_stop()
            self.client = None


def announce(buttons, srv, timeout: float = 20) -> None:
    """Status 'online' until the server knows every button (its registry refreshes periodically)."""
    deadline = time.monotonic() + timeout
    waiting = list(buttons)
    while waiting and time.monotonic() < deadline:
        for b in waiting:
            b.send("status", state="online", kind="button", fw="bench")
        time.sleep(0.5)
        online = {d["id"] for d in srv.api("GET", "/devices", params={"status": "online", "limit": 5000}).json()}
        waiting = [b for b in waiting if b.id not in online]
    if waiting:
        raise RuntimeError(f"{len(waiting)} buttons never accepted by the server")


def measure(page, srv, buttons) -> tuple[list[float], list[float], list[float]]:
    """Per press: to its row, to the server's receipt (clocks.received_at), receipt to row."""
    sent: dict[str, float] = {}
    for b in buttons:
        sent[b.id] = b.press()
        time.sleep(PACE_S)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        incs = srv.api("GET", "/incidents", params={"open": "true", "type": "emergency", "limit": 1000}).json()
        by_dev = {i["origin_device_id"]: i for i in incs if i["origin_device_id"] in sent}
        seen = page.evaluate("window.benchSeen")
        if len(by_dev) == len(sent) and all(str(by_dev[d]["id"]) in seen for d in sent):
            row = {d: seen[str(by_dev[d]["id"])] / 1000 for d in sent}
            received = {d: by_dev[d]["clocks"]["received_at"] for d in sent}
            return ([row[d] - sent[d] for d in sent], [received[d] - sent[d] for d in sent],
                    [row[d] - received[d] for d in sent])
        page.wait_for_timeout(200)
    raise RuntimeError("not every press reached the console's queue within 30 s")


def main(smoke: bool = False) -> dict:
    n_press, queue_load = (5, 30) if smoke else (30, 300)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="siaga-bench-console-") as tmp:
        tmp = Path(tmp)
        broker = Mosquitto(tmp / "broker")
        broker.add_account(SERVER_USER, SERVER_PASS, role="server")
        for n in range(2 * n_press + queue_load):
            broker.add_account(f"bench-btn-{n:03d}", f"pw-bench-btn-{n:03d}")
        broker.start()
        srv = FleetServer(tmp / "srv", broker.host, broker.port, mqtt_user=SERVER_USER, mqtt_password=SERVER_PASS,
                          env={"SIAGA_LOG_LEVEL": "WARNING"})
        buttons: list[Button] = []
        pw = None
        try:
            srv.start()
            if httpx.get(srv.base_url + "/console/", timeout=5).status_code != 200:
                raise RuntimeError("this server does not serve the console: include fleet_server.console.router in create_app")
            srv.api("POST", "/users", json={"username": DISPATCHER[0], "password": DISPATCHER[1], "role": "dispatcher"}).raise_for_status()
            buttons = [Button(broker, srv, n, held=n < 2 * n_press) for n in range(2 * n_press + queue_load)]
            timed, load = buttons[:2 * n_press], buttons[2 * n_press:]
            announce(buttons, srv, timeout=20 + queue_load / 10)
            pw = sync_playwright().start()
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(srv.base_url + "/")
            page.fill("#login-user", DISPATCHER[0])
            page.fill("#login-pass", DISPATCHER[1])
            page.click("#login-submit")
            page.wait_for_selector("#feed-state[data-state=live]", timeout=15000)
            page.evaluate(OBSERVER)

            idle, idle_srv, idle_page = measure(page, srv, timed[:n_press])
            # A busy evening: queue_load open SOS from buttons 400 m apart (none folds into another).
            for b in load:
                b.press()
            rows_at_least = "(n) => document.querySelectorAll('#queue [data-incident]').length >= n"
            page.wait_for_function(rows_at_least, arg=queue_load + n_press, timeout=60000)
            busy, busy_srv, busy_page = measure(page, srv, timed[n_press:])
            rows = page.evaluate("() => document.querySelectorAll('#queue [data-incident]').length")
            browser.close()
        finally:
            if pw:
                pw.stop()
            for b in buttons:
                b.close()
            srv.stop()
            broker.stop()
    result = {
        "unit": "seconds from the alarm handed to paho to its row in the console's queue",
        "pace_s": PACE_S,
        "idle": {"queue_rows_at_end": n_press, **percentiles(idle),
                 "to_server_receipt": percentiles(idle_srv), "receipt_to_row": percentiles(idle_page)},
        "busy": {"queue_rows_before": queue_load + n_press, "queue_rows_at_end": rows, **percentiles(busy),
                 "to_server_receipt": percentiles(busy_srv), "receipt_to_row": percentiles(busy_page)},
        "target_p99_s": 0.25,
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "note": "headless Debian chromium at 1366x768; includes MQTT, ingest+commit, WebSocket event, "
                "the console's GET of the incident and the queue/map render",
    }
    path = write("console", result, smoke=smoke)
    print(path)
    print(result)
    return result


if __name__ == "__main__":
    main(smoke="--smoke" in sys.argv)
