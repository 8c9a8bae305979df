# Canonical JSON text, byte-identical on CPython and MicroPython.
# Neither runtime's json.dumps can be trusted for that (MicroPython keeps no key order and
# writes non-ASCII raw; CPython escapes it), so values are written here from a fixed order.

_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def dump_str(s):
    out = ['"']
    for ch in s:
        e = _ESC.get(ch)
        if e is not None:
            out.append(e)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def dump_value(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if type(v) is int:
        return str(v)
    if type(v) is str:
        return dump_str(v)
    if type(v) is list or type(v) is tuple:
        return "[" + ",".join([dump_value(x) for x in v]) + "]"
    if type(v) is dict:
        return dump_object(v, sorted(v.keys()))
    raise TypeError("not a wire value: %r" % (v,))


def dump_object(d, order):
    # Keys in `order` that are present in d, in that order; absent keys are simply left out.
    parts = []
    for k in order:
        if k in d:
            parts.append(dump_str(k) + ":" + dump_value(d[k]))
    return "{" + ",".join(parts) + "}"
