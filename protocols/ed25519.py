# Ed25519 signature verification (RFC 8032, section 5.1.7), verify only: a device checks that a
# firmware release was signed by its command center; the private key never leaves the center.
# Plain integers (arbitrary precision on CPython, the MicroPython unix port, ESP32 and rp2).
#
# The check is the cofactorless one, [S]B == R + [k]A, computed as [S]B + [k](-A) and compared with
# R by its encoding, so a non-canonical R (y >= p) never matches. S must be below L (no
# malleability), A must decode to a curve point with y < p. Not constant time: a verifier holds no
# secret.
from protocols.sha512 import sha512

_P = 2 ** 255 - 19
_L = 2 ** 252 + 27742317777372353535851937790883648493
_D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
_D2 = (2 * _D) % _P
_SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
_B = (_BX, _BY, 1, (_BX * _BY) % _P)

# Why a signature is refused.
BAD_KEY_LENGTH = "bad_key_length"
BAD_SIGNATURE_LENGTH = "bad_signature_length"
BAD_KEY = "bad_key"              # A is not the encoding of a curve point
S_OUT_OF_RANGE = "s_out_of_range"  # S >= L: a non-canonical (malleable) signature
MISMATCH = "signature_mismatch"  # well formed, but not made by this key over this message


def _add(p1, p2):
    # Extended coordinates, a = -1 (add-2008-hwcd-3).
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = t1 * _D2 % _P * t2 % _P
    d = 2 * z1 * z2 % _P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _double(p1):
    # dbl-2008-hwcd with a = -1.
    x1, y1, z1, _ = p1
    a = x1 * x1 % _P
    b = y1 * y1 % _P
    c = 2 * z1 * z1 % _P
    h = a + b
    s = x1 + y1
    e = h - s * s % _P
    g = a - b
    f = c + g
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _neg(p1):
    x, y, z, t = p1
    return ((_P - x) % _P, y, z, (_P - t) % _P)


def _encode(p1):
    x, y, z, _ = p1
    zi = pow(z, _P - 2, _P)
    x = x * zi % _P
    y = y * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode(s):
    # RFC 8032 5.1.3; None when s is not a point.
    n = int.from_bytes(s, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    if y >= _P:
        return None
    y2 = y * y % _P
    u = (y2 - 1) % _P
    v = (_D * y2 + 1) % _P
    v3 = v * v % _P * v % _P
    x = u * v3 % _P * pow(u * v3 % _P * v3 % _P * v % _P, (_P - 5) // 8, _P) % _P
    vx2 = v * x % _P * x % _P
    if vx2 != u:
        if vx2 != (_P - u) % _P:
            return None
        x = x * _SQRT_M1 % _P
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


def _double_mult(s, p1, k, p2):
    # [s]p1 + [k]p2 in one pass of doublings (Shamir's trick); s, k < L < 2**253.
    both = _add(p1, p2)
    acc = (0, 1, 1, 0)
    for i in range(252, -1, -1):
        acc = _double(acc)
        bs = (s >> i) & 1
        bk = (k >> i) & 1
        if bs and bk:
            acc = _add(acc, both)
        elif bs:
            acc = _add(acc, p1)
        elif bk:
            acc = _add(acc, p2)
    return acc


def check(public_key, message, signature):
    """None when `signature` is public_key's Ed25519 signature of `message` (all bytes), otherwise
    the reason it is refused (one of the constants above)."""
    if len(public_key) != 32:
        return BAD_KEY_LENGTH
    if len(signature) != 64:
        return BAD_SIGNATURE_LENGTH
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return S_OUT_OF_RANGE
    a = _decode(public_key)
    if a is None:
        return BAD_KEY
    r = signature[:32]
    k = int.from_bytes(sha512(bytes(r) + bytes(public_key) + bytes(message)), "little") % _L
    if _encode(_double_mult(s, _B, k, _neg(a))) != bytes(r):
        return MISMATCH
    return None
