"""Ed25519 verification (protocols/ed25519.py) and the SHA-512 under it (protocols/sha512.py): the
RFC 8032 vectors and the refusals run on both runtimes through the golden-vector runner
(test_vectors.py); here, the vector set's coverage, the pure SHA-512 against hashlib, and random
signatures from an independent signer (the `cryptography` package the center signs with) accepted,
and their corruptions refused, by CPython and by the real MicroPython binary alike."""
import hashlib
import json
import random

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, strategies as st

from protocols import ed25519, sha512
from tests.support.mpy import run_script
from tests.support.paths import REPO

VECTORS = json.loads((REPO / "protocols" / "vectors" / "ed25519.json").read_text())["vectors"]


def _raw(key):
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_vector_set_holds_the_rfc_cases_and_the_refusals_that_matter():
    by_name = {v["name"]: v for v in VECTORS}
    for name in ("rfc8032_test1", "rfc8032_test2", "rfc8032_test3", "rfc8032_test1024"):
        assert by_name[name]["expect"] == "ok"
    assert len(bytes.fromhex(by_name["rfc8032_test1024"]["msg"])) == 1023
    assert by_name["flipped_bit_in_r"]["expect"] == "reject signature_mismatch"
    assert by_name["flipped_bit_in_s"]["expect"] == "reject signature_mismatch"
    assert by_name["wrong_key"]["expect"] == "reject signature_mismatch"
    assert by_name["non_canonical_s_plus_l"]["expect"] == "reject s_out_of_range"
    assert by_name["key_not_on_curve"]["expect"] == "reject bad_key"


def test_given_a_non_canonical_s_then_it_names_the_same_point_so_only_the_range_check_refuses_it():
    v = {x["name"]: x for x in VECTORS}["non_canonical_s_plus_l"]
    s = int.from_bytes(bytes.fromhex(v["sig"])[32:], "little")
    good = {x["name"]: x for x in VECTORS}["rfc8032_test2"]
    assert s - ed25519._L == int.from_bytes(bytes.fromhex(good["sig"])[32:], "little")


def test_pure_sha512_equals_hashlib_at_every_padding_boundary():
    data = bytes(random.Random(7).getrandbits(8) for _ in range(1100))
    for n in list(range(0, 260)) + [383, 384, 385, 1023, 1024, 1100]:
        assert sha512.digest(data[:n]) == hashlib.sha512(data[:n]).digest(), n


@given(st.binary(max_size=600))
def test_pure_sha512_equals_hashlib_on_any_bytes(data):
    assert sha512.digest(data) == hashlib.sha512(data).digest()


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=300), st.integers(0, 511))
def test_any_signature_verifies_and_any_flipped_bit_is_refused(seed, message, bit):
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pub = _raw(key)
    sig = key.sign(message)
    assert ed25519.check(pub, message, sig) is None
    bad = bytearray(sig)
    bad[bit // 8] ^= 1 << (bit % 8)
    assert ed25519.check(pub, message, bytes(bad)) in (ed25519.MISMATCH, ed25519.S_OUT_OF_RANGE)


SCRIPT = r"""
import json, sys, hashlib
from binascii import hexlify, unhexlify
from protocols import ed25519, sha512
print("native_sha512", hasattr(hashlib, "sha512"))
cases = json.loads(sys.stdin.read())
for c in cases["sigs"]:
    why = ed25519.check(unhexlify(c[0]), unhexlify(c[1]), unhexlify(c[2]))
    print("sig", "ok" if why is None else why)
for m in cases["sha"]:
    print("sha", hexlify(sha512.sha512(unhexlify(m))).decode())
"""


def test_given_random_signatures_then_micropython_decides_as_the_signer_and_hashes_as_hashlib(tmp_path):
    rnd = random.Random(112)
    sigs, want = [], []
    for i in range(24):
        key = Ed25519PrivateKey.from_private_bytes(rnd.randbytes(32))
        msg = rnd.randbytes(rnd.randrange(0, 700))
        sig = bytearray(key.sign(msg))
        if i % 3 == 1:
            sig[rnd.randrange(32)] ^= 1 << rnd.randrange(8)      # R altered
            want.append("signature_mismatch")
        elif i % 3 == 2:
            msg = msg + b"!"                                     # message altered
            want.append("signature_mismatch")
        else:
            want.append("ok")
        sigs.append([_raw(key).hex(), msg.hex(), bytes(sig).hex()])
    sha = [rnd.randbytes(n).hex() for n in (0, 1, 111, 112, 127, 128, 129, 255, 256, 2000)]
    stdin = json.dumps({"sigs": sigs, "sha": sha}).encode()
    script = tmp_path / "check.py"
    script.write_text(SCRIPT)
    p = run_script(script, stdin=stdin)
    out = p.stdout.decode().splitlines()
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    assert out[0] == "native_sha512 False"      # the device path: the pure SHA-512 is what ran
    assert [line.split(" ", 1)[1] for line in out if line.startswith("sig ")] == want
    assert [line.split(" ", 1)[1] for line in out if line.startswith("sha ")] == \
        [hashlib.sha512(bytes.fromhex(m)).hexdigest() for m in sha]
