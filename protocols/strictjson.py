# Strict JSON (RFC 8259) grammar check, without building values. MicroPython's json.loads is
# lenient (it takes '{"a":1,}', for one) where CPython's is strict; running this first on
# MicroPython makes both runtimes accept exactly the same texts. CPython needs only to refuse
# NaN/Infinity, which its parser otherwise allows (see loads below).
import json
import sys

_WS = " \t\n\r"
_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"
MAX_DEPTH = 16


class _Bad(Exception):
    pass


def _ws(s, i):
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    return i


def _string(s, i):
    # s[i] == '"'
    i += 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == '"':
            return i + 1
        if c == "\\":
            i += 1
            if i >= n:
                raise _Bad()
            e = s[i]
            if e == "u":
                if i + 4 >= n:
                    raise _Bad()
                for k in range(1, 5):
                    if s[i + k] not in _HEX:
                        raise _Bad()
                i += 5
                continue
            if e not in '"\\/bfnrt':
                raise _Bad()
            i += 1
            continue
        if ord(c) < 0x20:
            raise _Bad()
        i += 1
    raise _Bad()


def _number(s, i):
    n = len(s)
    if i < n and s[i] == "-":
        i += 1
    if i >= n or s[i] not in _DIGITS:
        raise _Bad()
    if s[i] == "0":
        i += 1
    else:
        while i < n and s[i] in _DIGITS:
            i += 1
    if i < n and s[i] == ".":
        i += 1
        if i >= n or s[i] not in _DIGITS:
            raise _Bad()
        while i < n and s[i] in _DIGITS:
            i += 1
    if i < n and s[i] in "eE":
        i += 1
        if i < n and s[i] in "+-":
            i += 1
        if i >= n or s[i] not in _DIGITS:
            raise _Bad()
        while i < n and s[i] in _DIGITS:
            i += 1
    return i


def _value(s, i, depth):
    if depth > MAX_DEPTH:
        raise _Bad()
    i = _ws(s, i)
    if i >= len(s):
        raise _Bad()
    c = s[i]
    if c == "{":
        i = _ws(s, i + 1)
        if i < len(s) and s[i] == "}":
            return i + 1
        while True:
            i = _ws(s, i)
            if i >= len(s) or s[i] != '"':
                raise _Bad()
            i = _ws(s, _string(s, i))
            if i >= len(s) or s[i] != ":":
                raise _Bad()
            i = _ws(s, _value(s, i + 1, depth + 1))
            if i < len(s) and s[i] == ",":
                i += 1
                continue
            if i < len(s) and s[i] == "}":
                return i + 1
            raise _Bad()
    if c == "[":
        i = _ws(s, i + 1)
        if i < len(s) and s[i] == "]":
            return i + 1
        while True:
            i = _ws(s, _value(s, i, depth + 1))
            if i < len(s) and s[i] == ",":
                i += 1
                continue
            if i < len(s) and s[i] == "]":
                return i + 1
            raise _Bad()
    if c == '"':
        return _string(s, i)
    for word in ("true", "false", "null"):
        if s.startswith(word, i):
            return i + len(word)
    return _number(s, i)


def valid(text):
    try:
        return _ws(text, _value(text, 0, 0)) == len(text)
    except _Bad:
        return False
    except IndexError:
        return False


_MICRO = sys.implementation.name == "micropython"


def _no_constants(name):
    raise ValueError("JSON has no " + name)


def loads(text):
    """json.loads with the same strictness on both runtimes. Raises ValueError on bad JSON."""
    if _MICRO:
        if not valid(text):
            raise ValueError("not strict JSON")
        return json.loads(text)
    return json.loads(text, parse_constant=_no_constants)
