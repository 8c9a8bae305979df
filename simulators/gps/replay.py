"""A GPS receiver on a pseudo-terminal: a thread writes a source's epochs to the pty master at
real or accelerated speed; firmware opens the slave (`path`) as its UART, through termios or
pyserial, exactly as it would open /dev/ttyS0 on a Raspberry Pi."""
from __future__ import annotations

import logging
import os
import threading
import time
import tty

from simulators.gps.sentences import retime

log = logging.getLogger("siaga.gps")


class GpsPty:
    """GpsPty(source, speed=1.0, retime_to_now=False, loop=False, max_gap_s=2.0)

    speed: receiver seconds per wall-clock second (10 = ten epochs a second for a 1 Hz capture).
    retime_to_now: rewrite every sentence's time and date to the wall clock when it is written
    (live demos; positions untouched). Off, the capture's bytes go out exactly (gpsd-exact tests).
    max_gap_s: a capture's holes (minutes between two epochs) are shortened to this.
    loop: start the source again when it ends.

    open() makes the pty and returns the slave path (the reader may open it before start(), so
    it misses nothing); start() begins writing; stop() ends the thread and closes the pty.
    set_source() switches to another source at the next epoch (a fix lost, a new drive), on the
    same pty.
    Writes never block: if nobody reads and the pty's buffer is full, bytes are dropped and
    counted, as a real UART overruns."""

    def __init__(self, source, speed: float = 1.0, retime_to_now: bool = False, loop: bool = False,
                 max_gap_s: float = 2.0):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._source = source
        self._wake = threading.Event()      # set by stop() and set_source(): end the current wait
        self.speed, self.retime_to_now, self.loop, self.max_gap_s = speed, retime_to_now, loop, max_gap_s
        self.master: int | None = None
        self._slave: int | None = None
        self.path: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = threading.Event()
        self.stats = {"epochs": 0, "lines": 0, "bytes": 0, "dropped": 0}

    def open(self) -> str:
        if self.master is None:
            self.master, self._slave = os.openpty()
            # Raw: no echo back into the master, no CR/LF translation, bytes as the module sends
            # them. Our slave descriptor stays open so the settings hold and the pty lives while
            # readers come and go.
            tty.setraw(self._slave)
            os.set_blocking(self.master, False)
            self.path = os.ttyname(self._slave)
        return self.path

    def start(self) -> "GpsPty":
        """Begin writing (again, after stop(): on a new pty)."""
        self.open()
        if self._thread is None:
            self._stop.clear()
            self.done.clear()
            self._thread = threading.Thread(target=self._run, name="gps-pty", daemon=True)
            self._thread.start()
        return self

    def set_source(self, source, speed: float | None = None, retime_to_now: bool | None = None,
                   loop: bool | None = None) -> None:
        """Switch to another source (None: the receiver goes silent, a cut cable) on the same pty,
        from the next epoch. Switching beats replacing the pty: closing a pty's master hangs up
        its slave, and a reader that got it as controlling terminal dies of SIGHUP."""
        if speed is not None:
            if speed <= 0:
                raise ValueError("speed must be positive")
            self.speed = speed
        if retime_to_now is not None:
            self.retime_to_now = retime_to_now
        if loop is not None:
            self.loop = loop
        self._source = source
        self.done.clear()
        self._wake.set()

    def wait_done(self, timeout: float) -> bool:
        """True once a non-looping source has been written to the end."""
        return self.done.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        for fd in (self.master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self._slave = None

    def __enter__(self) -> "GpsPty":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.clear()
                source = self._source
                if source is None:
                    self._wake.wait()
                    continue
                switched = False
                for epoch in source.epochs():
                    self._write(epoch)
                    wait = min(max(epoch.gap_s, 0.0), self.max_gap_s) / self.speed
                    if self._wake.wait(wait):
                        switched = True
                        break
                if not switched and not self.loop:
                    self.done.set()
                    self._wake.wait()
        except Exception:
            log.exception("gps replay stopped")
        finally:
            self.done.set()

    def _write(self, epoch) -> None:
        lines = epoch.lines
        if self.retime_to_now:
            now = time.time()
            lines = [retime(line, int(now), int(now * 1000) % 1000) for line in lines]
        data = b"".join(lines)
        sent = 0
        while sent < len(data):
            try:
                sent += os.write(self.master, data[sent:])
            except BlockingIOError:
                break
            except OSError:
                break
        self.stats["epochs"] += 1
        self.stats["lines"] += len(lines)
        self.stats["bytes"] += sent
        self.stats["dropped"] += len(data) - sent
