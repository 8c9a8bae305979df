"""The update conversation's messages (protocols/ota.py): what devices send parses back; bad input
is refused with a reason, never raised; a part carries its bytes verbatim."""
from protocols import downlink, ota
from protocols.messages import MAX_PAYLOAD
from protocols.topics import DEVICE_ID_MAX
from protocols.rejection import Rejection


def test_device_messages_round_trip():
    g = ota.parse_up(ota.get("btn-1", "1.4.0", "firmware/app/outbox.mpy", 1536, 768))
    assert g == {"v": 1, "t": "get", "dev": "btn-1", "ver": "1.4.0", "path": "firmware/app/outbox.mpy",
                 "off": 1536, "n": 768}
    r = ota.parse_up(ota.report("btn-1", "1.4.0", "trial", "button-1.4.0", None, True))
    assert r["state"] == "trial" and r["self"] is True and "why" not in r


def test_a_part_carries_any_bytes_after_its_header():
    data = (bytes(range(256)) * 3)[:ota.PART_MAX - 2] + b"\n\n"
    m = ota.parse_down(downlink.ota_part("btn-1", "1.4.0", "manifest.sig", 0, len(data), data))
    assert m["t"] == "part" and m["data"] == data and m["total"] == len(data)


def test_the_largest_part_fits_the_brokers_message_limit():
    """The broker refuses any message above the protocol's maximum (message_size_limit): a part
    with the longest id, path and offsets and a full load of bytes still fits."""
    longest = ota.PART_MAX * 10_000
    part = downlink.ota_part("b" * DEVICE_ID_MAX, "10000.10000.10000", "p" * 80, longest - ota.PART_MAX, longest,
                             b"\xff" * ota.PART_MAX)
    assert len(part) <= MAX_PAYLOAD, len(part)
    assert ota.parse_down(part)["data"] == b"\xff" * ota.PART_MAX


def test_bad_messages_are_refused_with_a_reason():
    bad_up = [b"", b"\xff", b"[]", b'{"v":2}', ota.get("btn-1", "1.4", "a.mpy", 0, 10),
              ota.get("btn-1", "1.4.0", "../etc/passwd", 0, 10), ota.get("btn-1", "1.4.0", "/main.py", 0, 10),
              ota.get("btn-1", "1.4.0", "a.mpy", 0, ota.PART_MAX + 1), ota.get("btn-1", "1.4.0", "a.mpy", -1, 1),
              ota.report("btn-1", "1.4.0", "exploded", "button-1.4.0"), b"x" * 600]
    for payload in bad_up:
        assert isinstance(ota.parse_up(payload), Rejection), payload
    head = b'{"dev":"btn-1","off":0,"path":"a.mpy","t":"part","total":3,"v":1,"ver":"1.4.0"}'
    bad_down = [head, head + b"\nabcd", b'{"dev":"btn-1","t":"confirm","v":1,"ver":"1.4.0"}\nbody',
                downlink.ota_offer("btn-1", "1.4.0", 1795377360, 5), b"\n", b"{" * 600]
    for payload in bad_down:
        got = ota.parse_down(payload)
        assert isinstance(got, Rejection) and got.reason, payload
