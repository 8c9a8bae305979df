"""The device end of the USB cable: MicroPython's raw REPL over pyserial, through mpremote's
SerialTransport (the same protocol mpremote and Thonny speak), with errors a technician can act on.

Reboot is "leave raw REPL, Ctrl-D at the friendly REPL": a soft reset that runs main.py (a soft reset
from inside the raw REPL would skip main.py on a board)."""
from __future__ import annotations

import contextlib
import hashlib
import io
import posixpath
import sys
from typing import Callable

import serial
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from fleet_server.i18n import N_
from fleet_server.provisioning.errors import PortError

# mpremote reads a pty (/dev/pts/*, also how USB-serial bridges of some VMs appear) byte by byte
# with pyserial's timeout; with none (its default) a silent port blocks for ever and its own
# overall deadline is never checked. A bound per read lets every wait end.
READ_TIMEOUT_S = 1.0
CHUNK = 1024   # bytes of a file per raw-REPL exec: fewer round trips than mpremote's 256

NO_REPL_HINT = N_("is MicroPython flashed (`siaga device flash`)? is this the board's port and the right "
                   "baud rate? close other programs on the port (screen, Thonny, mpremote); try the EN/RST button")
LOST_HINT = N_("the cable or the board's power: run the same command again to resume")


class DeviceLink:
    def __init__(self, port: str, baudrate: int = 115200, repl_timeout_s: float = 10.0):
        self.port = port
        self.repl_timeout_s = repl_timeout_s
        try:
            # mpremote prints what it read when the REPL does not answer; we raise a reason instead.
            with contextlib.redirect_stdout(io.StringIO()):
                self.transport = SerialTransport(port, baudrate=baudrate, timeout=READ_TIMEOUT_S)
        except (TransportError, serial.SerialException, OSError) as e:
            raise PortError(N_("cannot open {port}: {error}"),
                            N_("is the cable plugged in and the port name right (ls /dev/ttyUSB* /dev/ttyACM*)? "
                               "is your user in the dialout group? is another program holding it?"),
                            port=port, error=e) from None
        self.in_raw = False

    def enter(self) -> None:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self.transport.enter_raw_repl(soft_reset=False, timeout_overall=self.repl_timeout_s)
        except (TransportError, serial.SerialException, OSError) as e:
            raise PortError(N_("no MicroPython REPL answered on {port} within {seconds} s ({error})"),
                            NO_REPL_HINT, port=self.port, seconds=f"{self.repl_timeout_s:g}", error=e) from None
        self.in_raw = True

    def run(self, code: str, timeout_s: float = 10.0) -> str:
        """Run code on the device; its printed output. A device error is a PortError with its text."""
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                out, err = self.transport.exec_raw(code, timeout=timeout_s)
        except (TransportError, serial.SerialException, OSError) as e:
            raise PortError(N_("lost the device on {port}: {error}"), LOST_HINT, port=self.port, error=e) from None
        if err:
            raise PortError(N_("the device failed: {error}"), error=err.decode(errors="replace").strip()[-300:])
        return out.decode(errors="replace")

    def write_files(self, files: dict[str, bytes], progress: Callable[[str, int], None] | None = None,
                    fresh: bool = True) -> None:
        """Write files (making their directories). `fresh`: also drop overrides.json, the server's
        config commands from the device's previous life, so a new config.json stands alone.
        progress(path, n) is called as each chunk of n bytes lands (a slow UART takes seconds a file)."""
        dirs = sorted({posixpath.dirname(p) for p in files} - {""}, key=lambda d: d.count("/"))
        self.run("import os\nfor d in %r:\n try:\n  os.mkdir(d)\n except OSError:\n  pass\n" % (dirs,)
                 + ("try:\n os.remove('overrides.json')\nexcept OSError:\n pass\n" if fresh else ""))
        for path, data in files.items():
            landed = [0]

            def chunk(written: int, size: int, path=path, landed=landed, screen=sys.stdout) -> None:
                if progress:
                    # mpremote's chatter is silenced below; the technician's progress is not.
                    with contextlib.redirect_stdout(screen):
                        progress(path, written - landed[0])
                landed[0] = written
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    self.transport.fs_writefile(path, data, chunk_size=CHUNK, progress_callback=chunk)
            except TransportExecError as e:
                raise PortError(N_("the device could not write {path}: {error}"),
                                N_("is its flash full or read-only?"), path=path,
                                error=e.error_output.strip()[-200:]) from None
            except (TransportError, serial.SerialException, OSError) as e:
                raise PortError(N_("lost the device on {port} while writing {path}: {error}"), LOST_HINT,
                                port=self.port, path=path, error=e) from None
            if progress and not data:
                progress(path, 0)   # an empty file is written too

    def check_files(self, files: dict[str, bytes]) -> list[str]:
        """Paths whose content on the device differs from what we meant to write (one round trip)."""
        code = ("import hashlib, binascii\n"
                "def _h(p):\n h = hashlib.sha256()\n f = open(p, 'rb')\n while True:\n  b = f.read(512)\n"
                "  if not b:\n   break\n  h.update(b)\n f.close()\n return binascii.hexlify(h.digest()).decode()\n"
                "for p in %r:\n try:\n  print(p, _h(p))\n except OSError:\n  print(p, '-')\n" % (sorted(files),))
        seen = dict(line.split(" ", 1) for line in self.run(code, timeout_s=30).splitlines() if " " in line)
        return [p for p, data in sorted(files.items()) if seen.get(p) != hashlib.sha256(data).hexdigest()]

    def reboot(self) -> None:
        try:
            self.transport.exit_raw_repl()
            self.transport.serial.write(b"\x04")
            self.transport.serial.flush()
        except (serial.SerialException, OSError) as e:
            raise PortError(N_("lost the device on {port} at reboot: {error}"), N_("press the EN/RST button"),
                            port=self.port, error=e) from None
        self.in_raw = False

    def close(self) -> None:
        try:
            if self.in_raw:
                self.transport.exit_raw_repl()
            self.transport.close()
        except (serial.SerialException, OSError):
            pass   # the port may already be gone (unplugged); nothing left to release
