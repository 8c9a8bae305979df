"""A MicroPython "board on a USB cable": the real MicroPython unix binary on a pseudo-terminal,
reachable at a /dev/pts path that pyserial and mpremote open like /dev/ttyUSB0.

    dev = UsbDevice(tmp_path / "board").start()
    try:
        provision(port=dev.port, ...)      # raw REPL over the pty
        dev.flash                           # the files written to the "board"
    finally:
        dev.stop()

Why two ptys and a relay: the binary must sit on a tty (on a pipe it reads stdin as a script, with
no REPL), so it gets pty A's slave; a host needs a path to open, which a pty master does not have,
so the host opens pty B's slave and a thread relays A-master <-> B-master. The relay is also where
a board's hardware behaviour lives:
  * Ctrl-C from the host while the firmware runs becomes SIGINT (a board's UART interrupt raises
    KeyboardInterrupt; on a raw tty the line discipline sends no signal), so mpremote's
    "\\r\\x03\\r\\x01" stops the firmware and reaches the REPL, as on an ESP32.
  * A reboot re-executes the binary in the flash directory, running main.py if there is one
    (`micropython -i main.py`: -i leaves a REPL behind a stopped program, as a board does). The unix
    port ends its process on Ctrl-D at the REPL (a board soft-reboots); we restart it, so Ctrl-D is a
    soft reboot here too.
  * unplug() closes the host side: the host's next read or write fails, as when a cable is pulled.

Raw REPL: checked on MicroPython 1.29's unix port on a raw tty: Ctrl-A answers "raw REPL; CTRL-B
to exit\\r\\n>", code ends with Ctrl-D, replies "OK<out>\\x04<err>\\x04>" — the protocol mpremote
speaks, so no wrapper program is needed. Raw-paste mode (Ctrl-E A Ctrl-A) is not supported there;
mpremote sees that and falls back to plain raw REPL by itself. The one difference: output lines
end in "\\n" (a board's port writes "\\r\\n"); mpremote does not depend on it.

Every wait is bounded; stop() ends the process group and the relay, even after unplug()."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
import tty
from pathlib import Path

from fleet_server.broker.mosquitto import free_port
from simulators.micropython import micropython_binary

CTRL_C = 0x03


class UsbDevice:
    """One simulated board. `flash` is its file system (the working directory of the binary);
    `port` the path a host opens; `boots` counts how often the binary was (re)started."""

    def __init__(self, workdir: Path, env: dict | None = None):
        self.workdir = Path(workdir)
        self.flash = self.workdir / "flash"
        self.flash.mkdir(parents=True, exist_ok=True)
        self.log = self.workdir / "console.log"    # everything the board said, for failing tests
        self.extra_env = dict(env or {})
        self.control_port = free_port()             # the sim port's control channel, once booted
        self.port: str = ""
        self.boots = 0
        self.proc: subprocess.Popen | None = None
        self.running_main = False
        self._dev_master = self._host_master = -1
        self._dev_slave_fd = -1
        self._stop = threading.Event()
        self._unplugged = threading.Event()
        self._lock = threading.Lock()
        self._relay: threading.Thread | None = None
        self._logf = None

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "UsbDevice":
        self._logf = open(self.log, "ab")
        self._host_master, host_slave = os.openpty()
        tty.setraw(host_slave)
        self.port = os.ttyname(host_slave)
        # The host opens the path itself; our copy of the slave only keeps the pty alive until then.
        self._host_slave_keep = host_slave
        self._boot()
        self._relay = threading.Thread(target=self._run_relay, name=f"usbdevice-{self.port}", daemon=True)
        self._relay.start()
        return self

    def _env(self) -> dict:
        env = dict(os.environ)
        # Only the board's own flash is on the import path: the firmware must boot from the
        # files provisioning wrote, never from the repository.
        env["MICROPYPATH"] = ".frozen"
        env.update({"SIAGA_PORT": "sim", "SIAGA_FLASH": ".", "SIAGA_CONTROL": f"127.0.0.1:{self.control_port}"})
        env.update(self.extra_env)
        return env

    def _boot(self) -> None:
        """Power on (or soft reboot): a fresh binary on a fresh device-side pty."""
        dev_master, dev_slave = os.openpty()
        tty.setraw(dev_slave)
        has_main = (self.flash / "main.py").is_file()
        argv = [micropython_binary()] + (["-i", "main.py"] if has_main else [])
        proc = subprocess.Popen(argv, cwd=self.flash, env=self._env(), stdin=dev_slave, stdout=dev_slave,
                                stderr=dev_slave, start_new_session=True, close_fds=True)
        os.close(dev_slave)
        with self._lock:
            old = self._dev_master
            self._dev_master = dev_master
            self.proc = proc
            self.running_main = has_main
            self.boots += 1
        if old >= 0:
            os.close(old)
        self._note(f"\n[usbdevice] boot {self.boots}: {' '.join(argv[1:]) or 'REPL'}\n".encode())

    def reboot(self, timeout: float = 5.0) -> None:
        """A hard reset (the EN button): the binary ends and the relay starts it again in the flash
        directory (one place restarts it, so a reset never races the relay into two boards)."""
        boots = self.boots
        self._end_process()
        deadline = time.monotonic() + timeout
        while self.boots == boots and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.boots == boots:
            raise RuntimeError(f"the board did not boot again within {timeout}s")

    def unplug(self) -> None:
        """The cable is pulled: the host side of the port goes away (its next I/O fails)."""
        self._unplugged.set()
        with self._lock:
            for fd in (self._host_master, self._host_slave_keep):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._host_master = self._host_slave_keep = -1

    def stop(self) -> None:
        self._stop.set()
        if self._relay is not None:
            self._relay.join(5)
        self._end_process()
        self.unplug()
        with self._lock:
            if self._dev_master >= 0:
                os.close(self._dev_master)
                self._dev_master = -1
        if self._logf:
            self._logf.close()
            self._logf = None

    def _end_process(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def console(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- the relay ----------------------------------------------------------------------------
    def _note(self, data: bytes) -> None:
        if self._logf:
            self._logf.write(data)
            self._logf.flush()

    def _run_relay(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                dev, host, proc = self._dev_master, self._host_master, self.proc
            fds = [fd for fd in (dev, host) if fd >= 0]
            try:
                readable, _, _ = select.select(fds, [], [], 0.05)
            except (OSError, ValueError):
                continue   # an fd was closed under us by reboot/unplug: take the new ones
            if dev in readable:
                try:
                    data = os.read(dev, 4096)
                except OSError:
                    data = b""
                if data:
                    self._note(data)
                    if b">>> " in data or b"raw REPL" in data:
                        self.running_main = False
                    if host >= 0 and not self._unplugged.is_set():
                        try:
                            os.write(host, data)
                        except OSError:
                            pass
            if host in readable:
                try:
                    data = os.read(host, 4096)
                except OSError:
                    data = b""   # nobody has the port open: the pty reports EIO, as a closed tty
                if data:
                    if CTRL_C in data and self.running_main and proc is not None and proc.poll() is None:
                        os.killpg(proc.pid, signal.SIGINT)   # the UART interrupt of a board
                    if dev >= 0:
                        try:
                            os.write(dev, data)
                        except OSError:
                            pass
                else:
                    time.sleep(0.02)
            if proc is not None and proc.poll() is not None and not self._stop.is_set():
                # The binary ended (Ctrl-D at the REPL, or the firmware exited): a board reboots.
                # Drain what it said last first, so the host sees "soft reboot"-like output.
                self._note(b"\n[usbdevice] process ended; rebooting\n")
                if host >= 0 and not self._unplugged.is_set():
                    try:
                        os.write(host, b"soft reboot\r\n")
                    except OSError:
                        pass
                self._boot()
