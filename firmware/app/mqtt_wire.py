# MQTT 3.1.1 protocol layer: packet bytes in and out, no sockets and no clocks (those live in
# mqtt_link.py). Only what a field device needs: CONNECT with will, PUBLISH QoS 0/1, PUBACK,
# SUBSCRIBE, PINGREQ, DISCONNECT; and a parser that takes bytes in any chunking.
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
SUBSCRIBE = 8
SUBACK = 9
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

# A device only receives acks and commands (<= 1 KB of JSON); anything far larger is a broken or
# hostile stream, and buffering it would exhaust a 100 KB ESP32 heap.
MAX_INCOMING = 4096


class ProtocolError(Exception):
    pass


def _varlen(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return out


def _str(s):
    if type(s) is str:
        s = s.encode("utf-8")
    return bytes((len(s) >> 8, len(s) & 0xFF)) + s


def _packet(first, body):
    return bytes((first,)) + bytes(_varlen(len(body))) + body


def connect(client_id, keepalive_s, user=None, password=None, will_topic=None, will_payload=b"",
            will_qos=1, will_retain=True, clean=True):
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if will_topic is not None:
        flags |= 0x04 | (will_qos << 3) | (0x20 if will_retain else 0)
        payload += _str(will_topic) + _str(will_payload)
    if user is not None:
        flags |= 0x80
        payload += _str(user)
        if password is not None:
            flags |= 0x40
            payload += _str(password)
    head = _str("MQTT") + bytes((4, flags, keepalive_s >> 8, keepalive_s & 0xFF))
    return _packet(CONNECT << 4, head + payload)


def publish(topic, payload, qos=0, retain=False, pid=0, dup=False):
    first = (PUBLISH << 4) | (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    body = _str(topic)
    if qos:
        body += bytes((pid >> 8, pid & 0xFF))
    return _packet(first, body + payload)


def puback(pid):
    return bytes((PUBACK << 4, 2, pid >> 8, pid & 0xFF))


def subscribe(pid, filters):
    body = bytes((pid >> 8, pid & 0xFF))
    for topic, qos in filters:
        body += _str(topic) + bytes((qos,))
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def pingreq():
    return b"\xc0\x00"


def disconnect():
    return b"\xe0\x00"


def parse_publish(flags, body):
    """(topic bytes, payload bytes, qos, pid, retain) of a PUBLISH body."""
    if len(body) < 2:
        raise ProtocolError("PUBLISH too short")
    tlen = (body[0] << 8) | body[1]
    qos = (flags >> 1) & 3
    if qos > 1:
        raise ProtocolError("QoS 2 was never subscribed")
    end = 2 + tlen
    pid = 0
    if qos:
        if len(body) < end + 2:
            raise ProtocolError("PUBLISH too short for its packet id")
        pid = (body[end] << 8) | body[end + 1]
        start = end + 2
    else:
        start = end
    if len(body) < end:
        raise ProtocolError("PUBLISH topic runs past the packet")
    return bytes(body[2:end]), bytes(body[start:]), qos, pid, bool(flags & 1)


class Parser:
    """Feed bytes as they arrive; packets() yields (type, flags, body) for every complete packet."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf.extend(data)

    def packets(self):
        while True:
            got = self._one()
            if got is None:
                return
            yield got

    def _one(self):
        buf = self.buf
        if len(buf) < 2:
            return None
        n = 0
        shift = 0
        i = 1
        while True:
            if i >= len(buf):
                return None
            b = buf[i]
            n |= (b & 0x7F) << shift
            i += 1
            if not b & 0x80:
                break
            shift += 7
            if shift > 21:
                raise ProtocolError("remaining length has more than 4 bytes")
        if n > MAX_INCOMING:
            raise ProtocolError("incoming packet of %d bytes is over %d" % (n, MAX_INCOMING))
        if len(buf) < i + n:
            return None
        first = buf[0]
        body = bytes(buf[i:i + n])
        self.buf = buf[i + n:]
        return first >> 4, first & 0x0F, body
