# machine.UART's any/read/write on a pty, for firmware code run under the MicroPython binary in
# tests (the simulator put the line in raw mode; on a device the port's UART does this).
import select


class PtyUart:
    """machine.UART's read/write/any on a pty the simulator put in raw mode."""

    def __init__(self, path):
        self.f = open(path, "r+b")
        self.p = select.poll()
        self.p.register(self.f, select.POLLIN)

    def any(self):
        return 1 if self.p.poll(0) else 0

    def read(self, n):
        out = b""
        while len(out) < n and self.p.poll(0):
            b = self.f.read(1)
            if not b:
                break
            out += b
        return out

    def write(self, b):
        return self.f.write(b)
