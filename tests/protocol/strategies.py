"""Hypothesis strategies that build valid messages of every type straight from the schema in
protocols/messages.py, so a new field is covered without touching the tests."""
from hypothesis import strategies as st

from protocols.messages import FIELDS, CONFIG_KEYS, CMD_NEEDS

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
TEXT = st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_categories=("Cs",)).filter(lambda c: c != "\x7f")


def field_value(spec):
    name, kind, _req, nullable, a, b = spec
    if name == "v":
        base = st.just(1)
    elif kind == "int":
        base = st.integers(a, b)
    elif kind == "str":
        base = st.text(TEXT, min_size=a, max_size=b)
    elif kind == "enum":
        base = st.sampled_from(a)
    elif kind == "bool":
        base = st.booleans()
    elif kind == "id":
        base = st.text(ID_ALPHABET, min_size=1, max_size=32)
    elif kind == "cfg":
        base = st.dictionaries(st.sampled_from(CONFIG_KEYS), st.integers(0, 86400000), max_size=4)
    else:
        raise AssertionError(kind)
    return st.one_of(st.none(), base) if nullable else base


@st.composite
def message(draw, kind):
    msg = {}
    for spec in FIELDS[kind]:
        if spec[0] == "t":
            msg["t"] = kind
            continue
        if not spec[2] and not draw(st.booleans()):
            continue
        msg[spec[0]] = draw(field_value(spec))
    if kind == "alarm" and (msg["lat"] is None) != (msg["lon"] is None):
        msg["lon"] = None if msg["lat"] is None else 0
    if kind == "cmd":
        msg["exp"] = max(msg["exp"], msg["ts"])
        for need in CMD_NEEDS[msg["op"]]:
            if msg.get(need) is None:
                spec = next(s for s in FIELDS["cmd"] if s[0] == need)
                msg[need] = draw(field_value(spec[:3] + (False,) + spec[4:]))
    return msg


any_message = st.sampled_from(sorted(FIELDS)).flatmap(message)
