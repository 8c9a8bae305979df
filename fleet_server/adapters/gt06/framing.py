"""GT06 (Concox) framing.

    78 78 <len:1> <type:1> <content> <serial:2> <crc:2> 0D 0A     (len counts type .. crc)
    79 79 <len:2> <type:1> <content> <serial:2> <crc:2> 0D 0A     (extended: a 2-byte length)

The CRC is CRC-ITU (CRC-16/X.25: polynomial 0x1021 reflected, init and xorout 0xFFFF) over
len .. serial. Every answer the server sends is framed the same way, with the serial of the frame
it answers."""
from __future__ import annotations

from protocols.rejection import Rejection, BAD_CHECKSUM, BAD_FORMAT, TRUNCATED

START = b"\x78\x78"
START_EXT = b"\x79\x79"
STOP = b"\x0d\x0a"
MIN_LEN = 5            # type + serial + crc
MAX_FRAME = 1100       # bytes; the longest real frame (multimedia names, OBD) is well under this


def _table() -> list[int]:
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        out.append(c)
    return out


_CRC = _table()


def crc_itu(data: bytes) -> int:
    c = 0xFFFF
    for b in data:
        c = (c >> 8) ^ _CRC[(c ^ b) & 0xFF]
    return c ^ 0xFFFF


class Frame:
    __slots__ = ("extended", "type", "content", "serial", "crc_ok", "raw")

    def __init__(self, extended, type_, content, serial, crc_ok, raw):
        self.extended = extended
        self.type = type_
        self.content = content
        self.serial = serial
        self.crc_ok = crc_ok
        self.raw = raw

    def __repr__(self):
        return "Frame(0x%02X serial=%d %s)" % (self.type, self.serial, self.content.hex())


def build(type_: int, serial: int, content: bytes = b"", extended: bool = False) -> bytes:
    """One server-to-device frame, CRC included."""
    length = 5 + len(content)
    head = (START_EXT + length.to_bytes(2, "big")) if extended else (START + bytes((length,)))
    body = bytes((type_,)) + content + (serial & 0xFFFF).to_bytes(2, "big")
    crc = crc_itu(head[2:] + body)
    return head + body + crc.to_bytes(2, "big") + STOP


def parse(raw: bytes, strict_crc: bool = True) -> Frame | Rejection:
    """One whole frame (start to stop) -> Frame or Rejection."""
    if len(raw) < 10:
        return Rejection(TRUNCATED, "a GT06 frame is at least 10 bytes, got %d" % len(raw))
    extended = raw[:2] == START_EXT
    if not extended and raw[:2] != START:
        return Rejection(BAD_FORMAT, "a GT06 frame starts with 7878 or 7979, not %s" % raw[:2].hex())
    hl = 4 if extended else 3
    length = int.from_bytes(raw[2:hl], "big")
    if length < MIN_LEN:
        return Rejection(BAD_FORMAT, "length field %d is below the minimum %d" % (length, MIN_LEN))
    if len(raw) != hl + length + 2:
        return Rejection(BAD_FORMAT, "length field %d does not match the %d-byte frame" % (length, len(raw)))
    if raw[-2:] != STOP:
        return Rejection(BAD_FORMAT, "a GT06 frame ends with 0D0A, not %s" % raw[-2:].hex())
    crc = int.from_bytes(raw[-4:-2], "big")
    crc_ok = crc_itu(raw[2:-4]) == crc
    if strict_crc and not crc_ok:
        return Rejection(BAD_CHECKSUM, "CRC-ITU %04x does not match the frame's %04x" % (crc_itu(raw[2:-4]), crc))
    return Frame(extended, raw[hl], bytes(raw[hl + 1:-6]), int.from_bytes(raw[-6:-4], "big"), crc_ok, bytes(raw))


class FrameReader:
    """Cuts a TCP byte stream into frames. feed() returns a list of Frame | Rejection; after
    `fatal` is set the stream is garbage (no start bytes where a frame must begin, or a frame
    longer than any real one) and the connection should be closed: there is no safe way to find
    the next frame boundary in it."""

    def __init__(self, strict_crc: bool = True, max_frame: int = MAX_FRAME):
        self.buf = bytearray()
        self.strict_crc = strict_crc
        self.max_frame = max_frame
        self.fatal: Rejection | None = None

    def feed(self, data: bytes) -> list:
        out: list = []
        if self.fatal is not None:
            return out
        self.buf += data
        buf = self.buf
        while True:
            if len(buf) < 2:
                break
            head = bytes(buf[:2])
            if head != START and head != START_EXT:
                self.fatal = Rejection(BAD_FORMAT, "stream does not start a GT06 frame (%s)" % head.hex())
                out.append(self.fatal)
                break
            hl = 4 if head == START_EXT else 3
            if len(buf) < hl:
                break
            length = int.from_bytes(buf[2:hl], "big")
            total = hl + length + 2
            if length < MIN_LEN or total > self.max_frame:
                self.fatal = Rejection(BAD_FORMAT, "frame length %d is outside %d..%d" % (length, MIN_LEN, self.max_frame))
                out.append(self.fatal)
                break
            if len(buf) < total:
                break
            raw = bytes(buf[:total])
            del buf[:total]
            out.append(parse(raw, self.strict_crc))
        return out
