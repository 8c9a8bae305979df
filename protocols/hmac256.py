# HMAC-SHA256 (RFC 2104) on hashlib.sha256 alone: MicroPython has no hmac module.
import hashlib

_BLOCK = 64


def _xor(key, byte):
    return bytes([b ^ byte for b in key])


def hmac_sha256(key, msg):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + b"\x00" * (_BLOCK - len(key))
    inner = hashlib.sha256(_xor(key, 0x36))
    inner.update(msg)
    outer = hashlib.sha256(_xor(key, 0x5C))
    outer.update(inner.digest())
    return outer.digest()


def equal(a, b):
    # Constant time in the length of a: a MAC check must not leak how many bytes matched.
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
