"""Drive the real panic-button firmware (firmware/, sim port) under the MicroPython unix binary.

    btn = FirmwareButton(workdir, "btn-1", "pw", broker.host, broker.port, hold_ms=200)
    btn.start()
    btn.press()                      # holds for hold_ms + a margin, then releases
    assert btn.wait_feedback("received")
    btn.stop()

A button on GSM: `modem=` the pty of a simulators.modem.SimModem, plus its config.json settings
(`link="gsm"`, and for SOS by SMS `sms_after_s=`, `center_number=`, `sms_key=` hex).

The flash directory (workdir/flash) survives stop()/kill()/restart(), like a device's flash. Every
call is bounded in time; stop() always ends the process (SIGTERM, then SIGKILL).
"""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from fleet_server.broker.mosquitto import free_port
from simulators.micropython import MpyProcess

PATTERNS = ("selftest", "idle", "no_connection", "waiting", "received", "dispatched", "near", "closed",
            "config_error")
RELEASE_GAP_MS = 80      # > the default 30 ms debounce plus a tick
HOLD_MARGIN_MS = 250     # a press lasts hold_ms plus this, so the firmware's debounce and tick fit
ENTRY = "from firmware.main import main; main()"
RESET_EXIT = 75          # the sim port's exit status for a reset (reset_on_switch; firmware/ports/sim.py)


class FirmwareError(RuntimeError):
    pass


class FirmwareButton:
    def __init__(self, workdir: Path, device_id: str, password: str, host: str, port: int, *,
                 category: str = "medical", site: str = "Taman Lansia", lat: int = -6902000,
                 lon: int = 107622000, hold_ms: int = 1500, heartbeat_s: int = 60, resend_s: int = 2,
                 keys: dict | None = None, tamper: bool = True, heap_kb: int | None = None,
                 heap_sample_ms: int = 0, config_text: str | None = None, modem: str | None = None,
                 code_dir: Path | None = None, binary: str | None = None, reset_on_switch: bool = False,
                 **cfg):
        self.workdir = Path(workdir)
        self.code_dir = code_dir    # run these files (a release's .mpy) instead of the checkout's sources
        self.binary = binary        # another MicroPython binary (e.g. a 32-bit build)
        self.reset_on_switch = reset_on_switch  # a switch of release ends the process (exit 75)
        self.modem = modem
        self.flash = self.workdir / "flash"
        self.device_id = device_id
        self.hold_ms = hold_ms
        self.keys = keys or {"sos": category}
        self.tamper_present = tamper
        self.heap_kb = heap_kb
        self.heap_sample_ms = heap_sample_ms
        self.config = {"dev": device_id, "password": password, "host": host, "port": port, "site": site,
                       "lat": lat, "lon": lon, "category": category, "keys": self.keys, "hold_ms": hold_ms,
                       "heartbeat_s": heartbeat_s, "resend_s": resend_s, **cfg}
        self.config_text = config_text
        self.control_port = free_port()
        self.proc: MpyProcess | None = None
        self.flash.mkdir(parents=True, exist_ok=True)
        self.write_config()

    # ---- provisioning -----------------------------------------------------------------------
    def write_config(self) -> None:
        """Write config.json as provisioning does (config_text, if given, verbatim: a bad file)."""
        text = self.config_text if self.config_text is not None else json.dumps(self.config)
        (self.flash / "config.json").write_text(text)

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "FirmwareButton":
        if self.running:
            return self
        env = {"SIAGA_PORT": "sim", "SIAGA_FLASH": str(self.flash),
               "SIAGA_CONTROL": f"127.0.0.1:{self.control_port}", "SIAGA_KEYS": ",".join(self.keys),
               "SIAGA_TAMPER": "1" if self.tamper_present else "0",
               "SIAGA_HEAP_SAMPLE_MS": str(self.heap_sample_ms)}
        if self.modem:
            env["SIAGA_MODEM"] = self.modem
        if self.reset_on_switch:
            env["SIAGA_RESET_ON_SWITCH"] = "1"
        if self.code_dir is not None:
            env["MICROPYPATH"] = f".frozen:{self.code_dir}"
        argv = (["-X", f"heapsize={self.heap_kb}K"] if self.heap_kb else []) + ["-c", ENTRY]
        self.proc = MpyProcess(argv, cwd=self.workdir, env=env, log=self.workdir / "firmware.log",
                                binary=self.binary).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise FirmwareError(f"firmware exited at start:\n{self.output()[-2000:]}")
            try:
                self.state()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise FirmwareError(f"firmware control channel did not answer within {timeout}s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def kill(self) -> None:
        """SIGKILL: the power is cut."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.stop()  # closes the log file

    def restart(self, timeout: float = 10.0) -> "FirmwareButton":
        self.stop()
        return self.start(timeout)

    @property
    def exit_status(self) -> int | None:
        return self.proc.proc.poll() if self.proc is not None and self.proc.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.running

    def output(self) -> str:
        return self.proc.output() if self.proc is not None else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- control channel --------------------------------------------------------------------
    def request(self, line: str, timeout: float = 3.0) -> dict:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=timeout) as s:
            s.sendall(line.encode() + b"\n")
            buf = b""
            deadline = time.monotonic() + timeout
            while not buf.endswith(b"\n") and time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        if not buf:
            raise OSError("no answer from the firmware's control channel")
        reply = json.loads(buf)
        if "error" in reply:
            raise FirmwareError(reply["error"])
        return reply

    def state(self) -> dict:
        return self.request("state")

    def hold(self, key: str | None = None) -> None:
        self.request(f"press {key or self._key()}")

    def release(self, key: str | None = None) -> None:
        self.request(f"release {key or self._key()}")

    def press(self, hold_ms: int | None = None, key: str | None = None) -> None:
        """Hold a key (default: hold_ms plus a margin, a deliberate SOS) and release it."""
        ms = hold_ms if hold_ms is not None else self.hold_ms + HOLD_MARGIN_MS
        self.hold(key)
        try:
            time.sleep(ms / 1000)
        finally:
            self.release(key)
        # Stay released long enough for the debounce to see it: back-to-back presses would
        # otherwise merge into one, as contact bounce does.
        time.sleep(RELEASE_GAP_MS / 1000)

    def tamper(self, opened: bool = True) -> None:
        self.request(f"tamper {1 if opened else 0}")

    def battery(self, mv: int) -> None:
        self.request(f"batt {int(mv)}")

    def network(self, up: bool) -> None:
        """Take the device's own network (Wi-Fi) down or up."""
        self.request(f"net {1 if up else 0}")

    def _key(self) -> str:
        return next(iter(self.keys))

    # ---- observation ------------------------------------------------------------------------
    def feedback(self) -> str:
        return self.state()["feedback"]

    def shown(self) -> list[str]:
        """Patterns shown since boot, oldest first (the last 32)."""
        return self.state()["shown"]

    def wait_feedback(self, name: str, timeout: float = 10.0) -> bool:
        if name not in PATTERNS:
            raise ValueError(f"unknown pattern {name}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.feedback() == name:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def outbox(self) -> list[tuple[int, int]]:
        """Alarms pending on flash, as (boot, seq), read from the flash directory itself."""
        found = []
        folder = self.flash / "outbox"
        if folder.is_dir():
            for p in folder.iterdir():
                parts = p.name.split("-")
                if len(parts) == 2 and all(x.isdigit() for x in parts):
                    found.append((int(parts[0]), int(parts[1])))
        return sorted(found)
