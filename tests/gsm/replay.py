"""A UART that replays a captured modem: each command line the driver writes releases the next
scripted answer (bytes exactly as the modem side sent them). This is test-data replay of the
transcripts in ../shared/data/gsm, not a mock of a part we own."""
from __future__ import annotations


def frame(lines: list[str]) -> list[bytes]:
    """Transcript response lines -> chunks released one per host write: '> ' is the bare prompt,
    '(PDU)' marks where the host writes its data before the rest is released."""
    chunks, cur = [], b""
    for line in lines:
        if line == "(PDU)":
            chunks.append(cur)
            cur = b""
        elif line.startswith(">"):
            cur += b"\r\n> "
        else:
            cur += b"\r\n" + line.encode("latin-1") + b"\r\n"
    chunks.append(cur)
    return chunks


class ReplayUart:
    def __init__(self, answers: list[bytes] | None = None, unsolicited: bytes = b""):
        self.answers = list(answers or [])
        self.rx = bytearray(unsolicited)
        self.written: list[bytes] = []
        self._line = b""

    def queue(self, *chunks: bytes) -> None:
        self.answers.extend(chunks)

    def any(self) -> int:
        return len(self.rx)

    def read(self, n: int) -> bytes:
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out

    def write(self, data: bytes) -> int:
        self.written.append(bytes(data))
        # A command ends with CR; data after a prompt ends with Ctrl-Z or is a counted block.
        if data.endswith(b"\r") or data.endswith(b"\x1a") or not data.startswith(b"AT") and data != b"\x1b":
            if self.answers:
                self.rx.extend(self.answers.pop(0))
        return len(data)
