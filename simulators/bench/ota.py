"""Signed firmware releases: what verifying one costs a device. A real button release is built
(mpy-cross, signed with a fresh key); its manifest is verified with protocols/ed25519.py on CPython
and on the MicroPython unix binary, and every file of one board is hashed the way a device does.
Writes bench/results/ota.json. `python -m simulators.bench.ota [--smoke] [--rollout [--devices N] [--parts-per-s R]]`

What the numbers mean:
- verify_ms: protocols/release.open_manifest (the manifest's SHA-256, Ed25519 over that digest,
  then the JSON), median and spread of repeated runs; split into the SHA-512 inside Ed25519
  (CPython: hashlib's; MicroPython: protocols/sha512.py, as on a device) and the rest. CPython's
  `cryptography` (OpenSSL) verifying the same signature is the floor for comparison.
- heap: on the unix port a module's bytecode lives in the heap (on a device it is frozen into flash),
  so `code_bytes` is measured alone (gc.mem_alloc after importing); `allocated_per_verify_bytes` is
  everything one verify allocates with the collector off (garbage included); the honest "does it
  fit" number is `smallest_heap_kb`: the smallest -X heapsize, code included, in which import plus
  verify completes, found by bisection (fragmentation included).
- frozen_bytes: the three modules a device needs for this (ed25519, sha512, release) after mpy-cross.
The unix binary runs on this machine's x86 cores: ESP32 times are longer and are not guessed here.

rollout (`_rollout`): N protocol-level buttons (simulators/fleet/ota_button.py, one process) on a
real broker, updated by the server's update link (fleet_server/releases/serve.py) from a real
bundle: first a full release, then a release that differs in one file. Per phase: seconds from the
offers to the last confirm, bytes of file data per device, messages and payload bytes the update
link exchanged through the broker. Alarm -> ack: a stand-in acker on the broker answers each alarm
(the server's database is not in this path); the same press schedule runs with no rollout and
during the full-release rollout, and the ratio of the p99s is the figure.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulators.bench.results import REPO, write
from simulators.micropython import micropython_binary, mpy_env

MODULES = ("protocols/ed25519.py", "protocols/sha512.py", "protocols/release.py")

# The same timing script on both runtimes: argv = bundle dir, public key hex, runs, board.
SCRIPT = r"""
import sys, time
from binascii import unhexlify
from protocols import release, sha512, ed25519
root, pub, runs, board = sys.argv[1], unhexlify(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
try:
    now_us = time.ticks_us
    diff = time.ticks_diff
except AttributeError:
    now_us = lambda: int(time.perf_counter() * 1000000)
    diff = lambda a, b: a - b

body, sig = release.read_bundle(root)
signed = bytes(sig[:32]) + bytes(pub) + release.signed_message(body)

def timed(fn):
    out = []
    for i in range(runs):
        t = now_us()
        fn()
        out.append(diff(now_us(), t))
    return out

def verify():
    m, why = release.open_manifest(body, sig, pub)
    if why:
        raise SystemExit("refused: " + why)

print("verify_us", " ".join([str(x) for x in timed(verify)]))
print("sha512_us", " ".join([str(x) for x in timed(lambda: sha512.sha512(signed))]))
m, why = release.open_manifest(body, sig, pub)

def check_files():
    for e in release.files_for(m, board):
        f = open(root + "/files/" + e["path"], "rb")
        size, digest = release.digest_stream(f)
        f.close()
        if release.file_problem(e, size, digest):
            raise SystemExit("file refused")

print("files_us", " ".join([str(x) for x in timed(check_files)]))
print("files_bytes", sum([e["size"] for e in release.files_for(m, board)]))
print("manifest_bytes", len(body))
"""

HEAP_SCRIPT = r"""
import gc, sys
from binascii import unhexlify
gc.collect()
a = gc.mem_alloc()
from protocols import release
gc.collect()
code = gc.mem_alloc() - a
root, pub = sys.argv[1], unhexlify(sys.argv[2])
body, sig = release.read_bundle(root)
gc.collect()
churn_only = len(sys.argv) > 3
if churn_only:
    gc.disable()
b = gc.mem_alloc()
m, why = release.open_manifest(body, sig, pub)
churn = gc.mem_alloc() - b
gc.enable()
print("code", code)
print("churn", churn)
print("verdict", why or "ok")
"""


def _stats(samples_us: list[int]) -> dict:
    ms = sorted(x / 1000 for x in samples_us)
    return {"median": round(statistics.median(ms), 2), "min": round(ms[0], 2), "max": round(ms[-1], 2), "n": len(ms)}


def _parse(out: str) -> dict:
    got = {}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        got[k] = [int(x) for x in v.split()]
    return got


def _run(script: str, *args: str, micro: bool, heap_kb: int | None = None):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
    try:
        if micro:
            cmd = [micropython_binary()] + (["-X", f"heapsize={heap_kb}k"] if heap_kb else []) + [f.name, *args]
            env = mpy_env()
        else:
            cmd = [sys.executable, f.name, *args]
            env = dict(os.environ, PYTHONPATH=str(REPO))
        return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(f.name)


def _timing(root: Path, pub: str, runs: int, board: str, micro: bool) -> dict:
    p = _run(SCRIPT, str(root), pub, str(runs), board, micro=micro)
    if p.returncode != 0:
        raise RuntimeError(p.stdout + p.stderr)
    got = _parse(p.stdout)
    verify, sha = _stats(got["verify_us"]), _stats(got["sha512_us"])
    files = _stats(got["files_us"])
    kb = got["files_bytes"][0] / 1024
    return {"verify_ms": verify, "sha512_of_signed_bytes_ms": sha,
            "besides_sha512_ms": round(verify["median"] - sha["median"], 2),
            "check_board_files_ms": files, "board_files_kb": round(kb, 1),
            "file_hash_kb_per_s": round(kb / (files["median"] / 1000), 0) if files["median"] else None,
            "manifest_bytes": got["manifest_bytes"][0]}


def _fits(root: Path, pub: str, heap_kb: int) -> bool:
    p = _run(HEAP_SCRIPT, str(root), pub, micro=True, heap_kb=heap_kb)
    return p.returncode == 0 and "verdict ok" in p.stdout


def _heap(root: Path, pub: str) -> dict:
    # A heap large enough to run one verify with the collector off: its garbage is megabytes.
    p = _run(HEAP_SCRIPT, str(root), pub, "churn", micro=True, heap_kb=256 * 1024)
    if p.returncode != 0 or "verdict ok" not in p.stdout:
        raise RuntimeError(p.stdout + p.stderr)
    got = _parse(p.stdout.replace("verdict ok", ""))
    lo, hi = 4, 256          # KB: lo does not fit (checked below), hi does
    if _fits(root, pub, lo) or not _fits(root, pub, hi):
        raise RuntimeError("heap bisection bounds do not hold")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _fits(root, pub, mid):
            hi = mid
        else:
            lo = mid
    return {"code_bytes": got["code"][0], "allocated_per_verify_bytes": got["churn"][0], "smallest_heap_kb": hi}


def _frozen(out: Path) -> dict:
    from fleet_server.releases.bundle import mpy_cross

    sizes = {}
    for rel in MODULES:
        dst = out / (Path(rel).stem + ".mpy")
        subprocess.run([mpy_cross(), "-o", str(dst), rel], cwd=REPO, check=True, timeout=60)
        sizes[rel] = dst.stat().st_size
    return {"total_bytes": sum(sizes.values()), "files": sizes}


def _openssl_ms(root: Path, key, runs: int) -> dict:
    from protocols.release import signed_message

    pub = key.public_key()
    body = (root / "manifest.json").read_bytes()
    sig = (root / "manifest.sig").read_bytes()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        pub.verify(sig, signed_message(body))
        samples.append(int((time.perf_counter() - t) * 1e6))
    return _stats(samples)


def main(smoke: bool = False) -> Path:
    from fleet_server.releases import bundle, keys

    runs = 5 if smoke else 50
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        keys.create(tmp / "keys")
        pub = keys.load_public(tmp / "keys").hex()
        root = bundle.build("1.0.0", "button", ["esp32_button"], "0.0.0", tmp / "keys", tmp / "releases")
        result = {
            "release": {"kind": "button", "board": "esp32_button",
                        "files": len(json.loads((root / "manifest.json").read_bytes())["files"])},
            "cpython": _timing(root, pub, runs, "esp32_button", micro=False),
            "cpython_openssl_verify_ms": _openssl_ms(root, keys.load_private(tmp / "keys"), runs),
            "micropython_unix": _timing(root, pub, runs, "esp32_button", micro=True),
            "micropython_heap": _heap(root, pub),
            "frozen": _frozen(tmp),
        }
    result["load_avg_1m"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2),
                             "cpus": os.cpu_count()}
    path = write("ota", result, smoke)
    c, m, h = result["cpython"], result["micropython_unix"], result["micropython_heap"]
    print(f"manifest {c['manifest_bytes']} B: verify on CPython {c['verify_ms']['median']} ms "
          f"(OpenSSL {result['cpython_openssl_verify_ms']['median']} ms), on MicroPython unix "
          f"{m['verify_ms']['median']} ms (SHA-512 {m['sha512_of_signed_bytes_ms']['median']} ms); "
          f"heap: code {h['code_bytes']} B, {h['allocated_per_verify_bytes']} B allocated per verify, "
          f"smallest heap {h['smallest_heap_kb']} KB; {m['board_files_kb']} KB of files hashed in "
          f"{m['check_board_files_ms']['median']} ms -> {path}")
    return path


def _pctl(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000, 1)


def _rollout(n: int, smoke: bool, parts_per_s: float | None = None, acker_apart: bool = False,
             alarm_quiet_s: float = 0.0) -> dict:
    import asyncio

    from fleet_server.broker import Mosquitto
    from fleet_server.releases import bundle, keys
    from simulators.bench.fleet import _raise_fd_limit
    from tests.releases.craft import derive

    _raise_fd_limit()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        keys.create(tmp / "keys")
        pub = keys.load_public(tmp / "keys")
        full = bundle.build("1.2.0", "button", ["sim"], "1.0.0", tmp / "keys", tmp / "releases")
        src = (REPO / "firmware/app/feedback.py").read_text() + "\nPATCH = 1\n"
        derive(full, "1.3.0", {"firmware/app/feedback.py": src}, tmp / "keys")
        release_bytes = sum(e["size"] for e in json.loads((full / "manifest.json").read_bytes())["files"])
        broker = Mosquitto(tmp / "broker")
        broker.add_account("fleet-server", "srv", role="server")
        for i in range(n):
            broker.add_account(f"ota-{i:05d}", f"pw-{i}")
        for i in range(PROBES):
            broker.add_account(f"probe-{i:03d}", f"pw-probe-{i}")
        broker.start()
        try:
            out = asyncio.run(_rollout_run(n, smoke, broker, tmp / "releases", pub, parts_per_s, acker_apart,
                                           alarm_quiet_s))
        finally:
            broker.stop()
    out["release_file_bytes"] = release_bytes
    out["parts_per_s_cap"] = parts_per_s
    out["acker_apart"] = acker_apart
    out["alarm_quiet_s"] = alarm_quiet_s
    return out


# The rollout runs in three processes, as in the field: the update link with the alarm acker (the
# server side: two MQTT sessions in one process, as in the fleet server), the N updating devices
# (one simulator process), and PROBES buttons that only press and time their acks (another
# process, so that the simulator's own load of N downloads does not count as alarm latency).
PROBES = 20


def _role_server(host: str, port: int, releases: str, parts_per_s: float, with_acker: bool = True,
                 alarm_quiet_s: float = 0.0) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from fleet_server.releases.serve import OtaServer, ReleaseFiles
    from fleet_server.settings import Broker
    from protocols import codec_json, downlink, topics

    server = OtaServer(Broker(host=host, port=port, username="fleet-server", password="srv", client_id="fleet-server"),
                       ReleaseFiles(Path(releases)), parts_per_s=parts_per_s or None,
                       alarm_quiet_s=alarm_quiet_s).start()
    acker = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fleet-server-alarms")
    acker.username_pw_set("fleet-server-alarms", "srv")

    def ack(c, u, m):
        server.alarm_seen()          # as the fleet server's alarm lane does (fleet_server/app.py)
        a = codec_json.decode(m.payload, m.topic)
        if isinstance(a, dict):
            c.publish(topics.down(a["dev"], "ack"), downlink.ack(a["dev"], a["boot"], a["seq"], 1, a["ts"]), qos=1)

    acker.on_connect = lambda c, u, f, rc, p: c.subscribe(topics.subscription_up("alarm"), qos=1)
    acker.on_message = ack
    if with_acker:
        acker.connect(host, port, 60)
        acker.loop_start()
    try:
        server.connected.wait(10)
        print("ready", flush=True)
        for line in sys.stdin:
            w = line.split()
            if w[0] == "offer":
                for i in range(int(w[2])):
                    server.offer(f"ota-{i:05d}", w[1], int(w[3]))
                print("offered", flush=True)
            elif w[0] == "stats":
                print(json.dumps(server.stats), flush=True)
            elif w[0] == "quit":
                break
    finally:
        acker.loop_stop()
        server.stop()


def _role_acker(host: str, port: int) -> None:
    """The alarm acker alone (acker_apart): what the update link costs when it is not in its process."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from protocols import codec_json, downlink, topics

    acker = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fleet-server-alarms")
    acker.username_pw_set("fleet-server-alarms", "srv")

    def ack(c, u, m):
        a = codec_json.decode(m.payload, m.topic)
        if isinstance(a, dict):
            c.publish(topics.down(a["dev"], "ack"), downlink.ack(a["dev"], a["boot"], a["seq"], 1, a["ts"]), qos=1)

    acker.on_connect = lambda c, u, f, rc, p: c.subscribe(topics.subscription_up("alarm"), qos=1)
    acker.on_message = ack
    acker.connect(host, port, 60)
    acker.loop_start()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
    acker.loop_stop()


def _role_probes(host: str, port: int, presses: int) -> None:
    import asyncio
    import random

    from simulators.fleet.button import SimButton

    async def go():
        probes = [SimButton(f"probe-{i:03d}", f"pw-probe-{i}", host, port, lat=-6900000, lon=107600000,
                            heartbeat_s=600, active_s=0) for i in range(PROBES)]
        await asyncio.gather(*(p.start() for p in probes))
        await asyncio.gather(*(p.connected.wait() for p in probes))
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "quit":
                break
            for p in probes:
                p.ack_latency_s.clear()
            for _ in range(presses):
                random.choice(probes).press()
                await asyncio.sleep(0.05)
            await asyncio.sleep(2)
            print(json.dumps([v for p in probes for v in p.ack_latency_s]), flush=True)
        for p in probes:
            await p.stop()

    asyncio.run(go())


async def _child(*args: str):
    import asyncio
    p = await asyncio.create_subprocess_exec(sys.executable, "-m", "simulators.bench.ota", "--role", *args,
                                             cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    line = await asyncio.wait_for(p.stdout.readline(), 60)
    if line.strip() != b"ready":
        p.kill()
        raise RuntimeError(f"bench role {args[0]} did not start: {line!r}")
    return p


async def _ask(p, line: str, timeout: float = 120):
    import asyncio
    p.stdin.write(line.encode() + b"\n")
    await p.stdin.drain()
    return (await asyncio.wait_for(p.stdout.readline(), timeout)).decode().strip()


async def _rollout_run(n, smoke, broker, releases, pub, parts_per_s, acker_apart=False, alarm_quiet_s=0.0) -> dict:
    import asyncio

    from simulators.fleet.ota_button import OtaSimButton

    presses = 20 if smoke else 200
    server = await _child("server", broker.host, str(broker.port), str(releases), str(parts_per_s or 0),
                          "apart" if acker_apart else "acker", str(alarm_quiet_s))
    kids = [server]
    if acker_apart:
        kids.append(await _child("acker", broker.host, str(broker.port)))
    probes = await _child("probes", broker.host, str(broker.port), str(presses))
    kids.append(probes)
    devs = [OtaSimButton(f"ota-{i:05d}", f"pw-{i}", broker.host, broker.port, lat=-6900000, lon=107600000,
                         heartbeat_s=600, public_key=pub) for i in range(n)]
    try:
        t = time.monotonic()
        for i in range(0, n, 100):
            await asyncio.gather(*(x.start() for x in devs[i:i + 100]))
        await asyncio.gather(*(x.connected.wait() for x in devs))
        out = {"devices": n, "probes": PROBES, "connect_s": round(time.monotonic() - t, 1)}
        base = json.loads(await _ask(probes, "round"))
        out["alarm_ack_ms_no_rollout"] = {"p50": _pctl(base, 0.5), "p99": _pctl(base, 0.99), "n": len(base)}
        for ver, name in (("1.2.0", "full_release"), ("1.3.0", "one_file_change")):
            before = json.loads(await _ask(server, "stats"))
            bytes0 = [x.bytes_in for x in devs]
            t = time.monotonic()
            await _ask(server, f"offer {ver} {n} 600")
            pressing = asyncio.ensure_future(_ask(probes, "round")) if name == "full_release" else None
            deadline = time.monotonic() + (120 if smoke else 1800)
            while time.monotonic() < deadline and not all(x.version == ver and x.states[-1:] == ["confirmed"]
                                                          for x in devs):
                await asyncio.sleep(0.2)
            took = time.monotonic() - t
            during = json.loads(await pressing) if pressing else None
            stats = json.loads(await _ask(server, "stats"))
            per = [x.bytes_in - b for x, b in zip(devs, bytes0)]
            out[name] = {"seconds": round(took, 1),
                         "confirmed": sum(1 for x in devs if x.version == ver and x.states[-1:] == ["confirmed"]),
                         "bytes_per_device": round(statistics.mean(per)),
                         "parts": stats["parts"] - before["parts"],
                         "part_payload_bytes": stats["part_bytes"] - before["part_bytes"]}
            if during is not None:
                out["alarm_ack_ms_during_rollout"] = {"p50": _pctl(during, 0.5), "p99": _pctl(during, 0.99),
                                                      "n": len(during)}
        b, r = out["alarm_ack_ms_no_rollout"]["p99"], out["alarm_ack_ms_during_rollout"]["p99"]
        out["alarm_ack_p99_ratio"] = round(r / b, 2) if b and r else None
        return out
    finally:
        for x in devs:
            await x.stop()
        for p in kids:
            try:
                await _ask(p, "quit", 5)
            except Exception:
                pass
            try:
                await asyncio.wait_for(p.wait(), 10)
            except asyncio.TimeoutError:
                p.kill()


def rollout_main(smoke: bool = False, devices: int | None = None, parts_per_s: float | None = None,
                 acker_apart: bool = False, alarm_quiet_s: float = 0.0) -> Path:
    n = devices or (50 if smoke else 1000)
    load_before = os.getloadavg()[0]
    result = _rollout(n, smoke, parts_per_s, acker_apart, alarm_quiet_s)
    result["load_avg_1m"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2),
                             "cpus": os.cpu_count()}
    path = write("ota_rollout", result, smoke)
    print(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    if "--role" in sys.argv:
        role, args = sys.argv[sys.argv.index("--role") + 1], sys.argv[sys.argv.index("--role") + 2:]
        if role == "server":
            _role_server(args[0], int(args[1]), args[2], float(args[3]), args[4] == "acker", float(args[5]))
        elif role == "acker":
            _role_acker(args[0], int(args[1]))
        else:
            _role_probes(args[0], int(args[1]), int(args[2]))
    elif "--rollout" in sys.argv:
        rollout_main(smoke="--smoke" in sys.argv,
                     devices=int(sys.argv[sys.argv.index("--devices") + 1]) if "--devices" in sys.argv else None,
                     parts_per_s=float(sys.argv[sys.argv.index("--parts-per-s") + 1])
                     if "--parts-per-s" in sys.argv else None, acker_apart="--acker-apart" in sys.argv,
                     alarm_quiet_s=float(sys.argv[sys.argv.index("--alarm-quiet-s") + 1])
                     if "--alarm-quiet-s" in sys.argv else 0.0)
    else:
        main(smoke="--smoke" in sys.argv)
