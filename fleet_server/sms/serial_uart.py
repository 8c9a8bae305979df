"""pyserial behind the small UART interface the modem driver uses (protocols.at.uart.Uart:
machine.UART's read(n) / write(b) / any()), so the center's gateway runs the very same driver."""
from __future__ import annotations

import select

import serial

from protocols.at.uart import Uart


class SerialUart(Uart):
    def __init__(self, port: str, baudrate: int = 115200):
        self.port = port
        self.ser = serial.Serial(port, baudrate, timeout=0, write_timeout=2)
        self._stash = b""

    def any(self) -> int:
        n = self.ser.in_waiting + len(self._stash)
        if n == 0:
            # A pty whose other side closed reports nothing waiting yet polls readable: reading
            # then raises SerialException, which is how the gateway learns its modem is gone.
            r, _, _ = select.select([self.ser.fileno()], [], [], 0)
            if r:
                self._stash += self.ser.read(1)
                n = len(self._stash)
        return n

    def read(self, n: int) -> bytes:
        out, self._stash = self._stash[:n], self._stash[n:]
        if len(out) < n:
            out += self.ser.read(n - len(out))
        return out

    def write(self, data: bytes) -> int:
        return self.ser.write(data)

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:
            pass
