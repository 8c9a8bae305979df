# Runs under MicroPython: the MQTT protocol layer, bytes only.
from firmware.app import mqtt_wire as w


def case_connect_bytes_match_the_mqtt_311_layout():
    pkt = w.connect("btn-1", 30, "btn-1", "pw", "t/s", b"off", 1, True, False)
    # fixed header, "MQTT", level 4, flags: user+pass+will retain+will qos1+will, keepalive 30
    assert pkt[0] == 0x10
    assert pkt[2:10] == b"\x00\x04MQTT\x04" + bytes((0xC0 | 0x20 | 0x08 | 0x04,))
    assert pkt[10:12] == b"\x00\x1e"
    assert pkt[12:] == b"\x00\x05btn-1\x00\x03t/s\x00\x03off\x00\x05btn-1\x00\x02pw"
    assert pkt[1] == len(pkt) - 2


def case_publish_qos1_round_trips_through_the_parser_in_any_chunking():
    big = b"x" * 300      # remaining length needs two bytes
    stream = w.publish("a/b", big, 1, False, 7) + w.puback(7) + w.pingreq()
    for size in (1, 2, 3, 7, 64, len(stream)):
        p = w.Parser()
        got = []
        for i in range(0, len(stream), size):
            p.feed(stream[i:i + size])
            got.extend(p.packets())
        assert [g[0] for g in got] == [w.PUBLISH, w.PUBACK, w.PINGREQ], (size, got)
        topic, payload, qos, pid, retain = w.parse_publish(got[0][1], got[0][2])
        assert (topic, payload, qos, pid, retain) == (b"a/b", big, 1, 7, False)


def case_an_oversize_or_malformed_packet_is_a_protocol_error_not_a_crash():
    p = w.Parser()
    p.feed(b"\x30\xff\xff\x7f")          # 2 MB PUBLISH announced
    try:
        list(p.packets())
        raise AssertionError("accepted")
    except w.ProtocolError:
        pass
    p = w.Parser()
    p.feed(b"\x30\xff\xff\xff\xff\x01")  # five length bytes
    try:
        list(p.packets())
        raise AssertionError("accepted")
    except w.ProtocolError:
        pass
    try:
        w.parse_publish(0x02, b"\x00\x09ab")
        raise AssertionError("accepted")
    except w.ProtocolError:
        pass
