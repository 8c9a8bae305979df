"""Broker account management, two ways, on the real Mosquitto: the project's password file + ACL
rewritten and re-read on SIGHUP (fleet_server/broker/mosquitto.py), and Mosquitto's
dynamic-security plugin driven over $CONTROL/dynamic-security/v1. For each: 1,000 accounts added
one at a time (what provisioning does: one device, then wait until its login works), the same
1,000 revoked one at a time (until the login is refused), and the same in one batch. Writes
bench/results/broker_accounts.json. The numbers are the ADR 0006 evidence.

`python -m simulators.bench.broker_accounts [--n 1000]`
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.broker import Mosquitto, hash_password
from fleet_server.broker.mosquitto import free_port
from simulators.bench.results import write

DYNSEC = next(iter(sorted(Path("/usr/lib").glob("*/mosquitto_dynamic_security.so"))), None)
ADMIN, ADMIN_PW = "dynsec-admin", "dynsec-admin-secret"


def login(port: int, user: str, pw: str) -> str:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user)
    c.username_pw_set(user, pw)
    got = []
    done = threading.Event()
    c.on_connect = lambda cl, u, f, rc, p: (got.append(str(rc)), done.set())
    c.connect("127.0.0.1", port, 5)
    c.loop_start()
    done.wait(5)
    c.disconnect()
    c.loop_stop()
    return got[0] if got else "no answer"


def wait_login(port: int, user: str, pw: str, want: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while login(port, user, pw) != want:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{user}: login never became {want!r}")
        time.sleep(0.01)


def measure(port: int, n: int, add, revoke, add_all, revoke_all) -> dict:
    """The four timings for one way of managing accounts: add(user, pw) and revoke(user) one at a
    time (each until the login works / is refused), then add_all(users) and revoke_all(users)."""
    users = [(f"dev-{i:04d}", f"pw-{i}") for i in range(n)]
    last_user, last_pw = users[-1]
    out = {}
    t0 = time.perf_counter()
    for user, pw in users:
        add(user, pw)
        wait_login(port, user, pw, "Success")
    out["add_one_by_one_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for user, pw in users:
        revoke(user)
        wait_login(port, user, pw, "Not authorized")
    out["revoke_one_by_one_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    add_all(users)
    wait_login(port, last_user, last_pw, "Success")
    out["add_batch_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    revoke_all(users)
    wait_login(port, last_user, last_pw, "Not authorized")
    out["revoke_batch_s"] = time.perf_counter() - t0
    return out


def bench_file(work: Path, n: int) -> dict:
    b = Mosquitto(work / "file")
    b.add_account("fleet-server", "srv", role="server")
    b.start()

    def add_all(users):
        for user, pw in users:
            b.add_account(user, pw)
        b.reload()   # includes the project's 0.2 s settle; the login check is the truth

    def revoke_all(users):
        for user, _ in users:
            b.remove_account(user)
        b.reload()

    try:
        return measure(b.port, n, lambda u, p: add_all([(u, p)]), lambda u: revoke_all([(u, "")]), add_all, revoke_all)
    finally:
        b.stop()


class Control:
    """A $CONTROL client: sends a list of dynamic-security commands, waits for their responses."""

    def __init__(self, port: int):
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=ADMIN)
        self.c.username_pw_set(ADMIN, ADMIN_PW)
        self._cond = threading.Condition()
        self.responses: list[dict] = []
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()
        self.c.subscribe("$CONTROL/dynamic-security/v1/response", 1)[1]
        time.sleep(0.2)

    def _on_message(self, c, u, m):
        with self._cond:
            self.responses.extend(json.loads(m.payload)["responses"])
            self._cond.notify_all()

    def run(self, commands: list[dict]) -> None:
        with self._cond:
            start = len(self.responses)
        self.c.publish("$CONTROL/dynamic-security/v1", json.dumps({"commands": commands}), qos=1)
        deadline = time.monotonic() + 60
        with self._cond:
            while len(self.responses) - start < len(commands):
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    raise RuntimeError("no answer from the dynamic-security plugin")
            errors = [r for r in self.responses[start:] if r.get("error")]
        if errors:
            raise RuntimeError(f"dynamic-security refused: {errors[:3]}")

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def bench_dynsec(work: Path, n: int) -> dict:
    d = work / "dynsec"
    d.mkdir(parents=True)
    port = free_port()
    cfg = d / "dynsec.json"
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(cfg), ADMIN, ADMIN_PW], check=True,
                   capture_output=True, timeout=30)
    conf = d / "mosquitto.conf"
    conf.write_text(f"per_listener_settings false\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"plugin {DYNSEC}\nplugin_opt_config_file {cfg}\npersistence false\nuser root\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        ctl = Control(port)
        ctl.run([{"command": "createRole", "rolename": "device", "acls": [
            {"acltype": "publishClientSend", "topic": "siaga/v1/dev/%u/up/#", "allow": True}]}])

        def create(user, pw):
            return {"command": "createClient", "username": user, "password": pw, "clientid": user,
                    "roles": [{"rolename": "device"}]}

        out = measure(port, n, lambda u, p: ctl.run([create(u, p)]),
                      lambda u: ctl.run([{"command": "deleteClient", "username": u}]),
                      lambda users: ctl.run([create(u, p) for u, p in users]),
                      lambda users: ctl.run([{"command": "deleteClient", "username": u} for u, _ in users]))
        ctl.close()
        return out
    finally:
        proc.terminate()
        proc.wait(5)


def main(smoke: bool = False, n: int | None = None) -> dict:
    n = n or (10 if smoke else 1000)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result = {"accounts": n, "file_sighup": bench_file(work, n),
                  "dynsec": bench_dynsec(work, n) if DYNSEC and shutil.which("mosquitto_ctrl") else None}
    print(json.dumps(result, indent=2))
    write("broker_accounts", result, smoke=smoke)
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    main(smoke=args.smoke, n=None if args.smoke else args.n)
