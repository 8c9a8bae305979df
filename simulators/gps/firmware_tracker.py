"""Drive the real tracker firmware (firmware/app/tracker.py on the simulation port) under the
MicroPython unix binary, with its GPS UART on a pty fed by simulators.gps.

    trk = FirmwareTracker(workdir, "trk-amb-07", "pw", broker.host, broker.port)
    trk.set_gps_source(RouteSource(route, 14), speed=5)   # or CaptureSource(...), NoFixSource()
    trk.start()
    trk.crew("available")
    assert trk.wait_orders(1)            # a dispatch order arrived: LED blinks, buzzer beeps
    trk.accept()                         # cmdres "accepted" with the order id goes out
    trk.stop()                           # stops the firmware and the GPS

Lifecycle, control channel and flash handling are FirmwareButton's (simulators/devices), so
both devices behave alike in tests: every call is bounded in time, stop() always ends the
process, the flash directory survives stop()/kill()/restart().
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from fleet_server.broker.mosquitto import free_port
from simulators.devices.firmware_button import FirmwareButton, FirmwareError
from simulators.gps.replay import GpsPty
from simulators.micropython import MpyProcess

# The device's own entry. SIAGA_APP picks the tracker unless config.json names the app itself (as
# a provisioned tracker's does); a test's bad or app-less config.json would otherwise boot the
# default app, the button.
ENTRY = "from firmware.main import main; main()"
CREW_KEYS = ("available", "enroute", "onscene", "returning", "oos")
PATTERNS = ("selftest", "order", "sos", "enroute", "no_connection", "no_fix", "idle")
KEY_PRESS_S = 0.15       # > debounce (30 ms) plus a few ticks


class FirmwareTracker(FirmwareButton):
    def __init__(self, workdir: Path, device_id: str, password: str, host: str, port: int, *,
                 category: str = "medical", heap_kb: int | None = None, ignition: bool = False,
                 sos_hold_ms: int = 300, config_text: str | None = None, **cfg):
        self.workdir = Path(workdir)
        self.flash = self.workdir / "flash"
        self.device_id = device_id
        self.hold_ms = sos_hold_ms
        self.keys = {k: category for k in ("sos", "accept") + CREW_KEYS}
        self.heap_kb = heap_kb
        self.ignition_at_start = ignition
        self.config = {"dev": device_id, "password": password, "host": host, "port": port,
                       "category": category, "sos_hold_ms": sos_hold_ms, **cfg}
        self.config_text = config_text
        self.control_port = free_port()
        self.proc: MpyProcess | None = None
        self.gps: GpsPty | None = None
        self.flash.mkdir(parents=True, exist_ok=True)
        self.write_config()

    # ---- GPS ----------------------------------------------------------------------------------
    def set_gps_source(self, source, speed: float = 1.0, retime_to_now: bool = True, loop: bool = False,
                       max_gap_s: float = 2.0) -> str:
        """Feed the tracker's UART from `source` (CaptureSource, RouteSource, NoFixSource). Times
        are rewritten to now by default (the wire refuses pre-2020 times, and an accelerated
        drive would otherwise run into the future); retime_to_now=False sends a capture's exact
        bytes. Before start() or while running; one pty for the tracker's whole life (closing a
        pty hangs up the firmware that holds it). Returns the pty's path."""
        if self.gps is None:
            self.gps = GpsPty(source, speed=speed, retime_to_now=retime_to_now, loop=loop, max_gap_s=max_gap_s)
            self.gps.open()
            if self.running:
                self.request(f"gps {self.gps.path}")
                self.gps.start()
        else:
            self.gps.max_gap_s = max_gap_s
            self.gps.set_source(source, speed=speed, retime_to_now=retime_to_now, loop=loop)
            if self.running:
                self.request(f"gps {self.gps.path}")
        return self.gps.path

    def unplug_gps(self) -> None:
        """The antenna cable is cut: no more bytes on the UART."""
        if self.gps is not None:
            self.gps.set_source(None)

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "FirmwareTracker":
        if self.running:
            return self
        env = {"SIAGA_PORT": "sim", "SIAGA_FLASH": str(self.flash),
               "SIAGA_CONTROL": f"127.0.0.1:{self.control_port}", "SIAGA_KEYS": ",".join(self.keys),
               "SIAGA_IGNITION": "1" if self.ignition_at_start else "0",
               "SIAGA_GPS": self.gps.open() if self.gps is not None else ""}
        if self.config_text is not None or self.config.get("app") != "tracker":
            env["SIAGA_APP"] = "tracker"
        argv = (["-X", f"heapsize={self.heap_kb}K"] if self.heap_kb else []) + ["-c", ENTRY]
        self.proc = MpyProcess(argv, cwd=self.workdir, env=env, log=self.workdir / "firmware.log").start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise FirmwareError(f"tracker exited at start:\n{self.output()[-2000:]}")
            try:
                self.state()
                break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise FirmwareError(f"tracker control channel did not answer within {timeout}s")
        if self.gps is not None:
            self.gps.start()
        return self

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.gps is not None:   # after the firmware: its pty is hung up only once it is gone
                self.gps.stop()        # start() goes on with the same source on a new pty

    def kill(self) -> None:
        """SIGKILL: the power is cut (the GPS keeps sending, as a separate module would)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.stop()

    # ---- keys and inputs ----------------------------------------------------------------------
    def press_key(self, name: str, hold_s: float = KEY_PRESS_S) -> None:
        if name not in self.keys:
            raise ValueError(f"the tracker has no key {name}")
        self.hold(name)
        try:
            time.sleep(hold_s)
        finally:
            self.release(name)
        time.sleep(0.08)

    def crew(self, status: str) -> None:
        if status not in CREW_KEYS:
            raise ValueError(f"unknown crew status {status}")
        self.press_key(status)

    def accept(self) -> None:
        self.press_key("accept")

    def sos(self) -> None:
        """Hold the crew SOS key past its hold time."""
        self.press_key("sos", self.hold_ms / 1000 + 0.25)

    def ignition(self, on: bool) -> None:
        self.request(f"ign {1 if on else 0}")

    # ---- observation --------------------------------------------------------------------------
    def led(self) -> int | None:
        return self.state()["led"]

    def buzzer(self) -> int | None:
        return self.state()["buzzer"]

    def pattern(self) -> str | None:
        return self.state()["pattern"]

    def pending_orders(self) -> list[str]:
        """Dispatch order ids received and not yet accepted (or expired)."""
        return self.state()["orders"]

    def wait_orders(self, count: int = 1, timeout: float = 10.0) -> list[str]:
        return self.wait_state(lambda s: len(s["orders"]) >= count, timeout).get("orders", [])

    def wait_pattern(self, name: str, timeout: float = 10.0) -> bool:
        if name not in PATTERNS:
            raise ValueError(f"unknown pattern {name}")
        return self.wait_state(lambda s: s["pattern"] == name, timeout).get("pattern") == name

    def wait_fix(self, timeout: float = 10.0) -> dict | None:
        return self.wait_state(lambda s: s.get("fix") is not None, timeout).get("fix")

    def wait_state(self, pred, timeout: float = 10.0) -> dict:
        """Poll the control channel until pred(state) holds; the last state seen either way."""
        deadline = time.monotonic() + timeout
        st: dict = {}
        while time.monotonic() < deadline:
            try:
                st = self.state()
                if pred(st):
                    return st
            except OSError:
                pass
            time.sleep(0.05)
        return st

    def backlog(self) -> list[str]:
        """Records waiting on flash for their PUBACK, by file name (lane-seq-type)."""
        folder = self.flash / "backlog"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def crew_on_flash(self) -> str | None:
        p = self.flash / "crew.json"
        return json.loads(p.read_text()) if p.exists() else None
