"""What a device does with a release, under the real MicroPython binary with protocols/release.py
and protocols/ed25519.py: the server's manifest verifies under the center's public key; one
altered byte anywhere in the manifest or its signature, or in any file, is refused with a reason
that says what; the manifest's promises (board, version step, bytecode format) are enforced."""
from __future__ import annotations

import json

from fleet_server.releases import bundle, keys
from protocols import release as wire
from tests.support.mpy import run_script

# Reads everything from files, as a device reads its download area; prints "<label> <reason|ok>".
DEVICE = r"""
import sys
from binascii import unhexlify
from protocols import release

root, pub_hex, step = sys.argv[1], sys.argv[2], int(sys.argv[3])
pub = unhexlify(pub_hex)

body, sig = release.read_bundle(root)

m, why = release.open_manifest(body, sig, pub)
print("untouched", why or "ok")
for board in m["boards"]:
    for e in release.files_for(m, board):
        f = open(root + "/files/" + e["path"], "rb")
        size, digest = release.digest_stream(f)
        f.close()
        why = release.file_problem(e, size, digest)
        if why:
            print("file", why)
print("files checked", len(m["files"]))

# One byte of the manifest altered, at every step-th position (and the last one).
refused = 0
positions = list(range(0, len(body), step)) + [len(body) - 1]
for i in positions:
    bad = bytearray(body)
    bad[i] ^= 0x01
    got, why = release.open_manifest(bytes(bad), sig, pub)
    if got is None and why.startswith("bad_signature "):
        refused += 1
    else:
        print("ACCEPTED altered manifest byte", i, why)
print("manifest bytes altered", len(positions), "refused", refused)

for i in (0, 31, 32, 63):
    bad = bytearray(sig)
    bad[i] ^= 0x80
    print("sig byte", i, release.open_manifest(body, bytes(bad), pub)[1])

# One byte altered in each file, in the middle: its hash no longer matches.
for e in m["files"]:
    f = open(root + "/files/" + e["path"], "rb")
    data = bytearray(f.read())
    f.close()
    data[len(data) // 2] ^= 0x01
    import io
    size, digest = release.digest_stream(io.BytesIO(bytes(data)))
    print("altered", release.file_problem(e, size, digest))
    size, digest = release.digest_stream(io.BytesIO(bytes(data[:-1])))
    print("truncated", release.file_problem(e, size, digest).split(" (")[0])

print("other key", release.open_manifest(body, sig, unhexlify("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))[1])
mpy = sys.implementation._mpy & 0xff
print("install sim 1.1.0", release.upgrade_problem(m, "sim", "1.1.0", mpy) or "ok")
print("install sim 1.2.0", release.upgrade_problem(m, "sim", "1.2.0", mpy))
print("install sim 0.9.9", release.upgrade_problem(m, "sim", "0.9.9", mpy))
print("install tracker board", release.upgrade_problem(m, "esp32_tracker", "1.1.0", mpy))
print("install other mpy", release.upgrade_problem(m, "sim", "1.1.0", mpy + 1))
"""


def _run(tmp_path, root, pub: bytes, step: int) -> list[str]:
    script = tmp_path / "device.py"
    script.write_text(DEVICE)
    p = run_script(script, str(root), pub.hex(), str(step), timeout=300)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    return out.splitlines()


def test_given_a_server_release_then_micropython_accepts_it_and_refuses_every_altered_byte(
        button_release, key_dir, tmp_path):
    m = json.loads((button_release / bundle.MANIFEST).read_bytes())
    lines = _run(tmp_path, button_release, keys.load_public(key_dir), step=97)
    assert lines[0] == "untouched ok"
    assert not [x for x in lines if x.startswith(("file ", "ACCEPTED"))], lines
    assert f"files checked {len(m['files'])}" in lines
    altered = [x for x in lines if x.startswith("manifest bytes altered")]
    n = len(range(0, len((button_release / bundle.MANIFEST).read_bytes()), 97)) + 1
    assert altered == [f"manifest bytes altered {n} refused {n}"]
    assert [x for x in lines if x.startswith("sig byte")] == [
        "sig byte 0 bad_signature signature_mismatch", "sig byte 31 bad_signature signature_mismatch",
        "sig byte 32 bad_signature signature_mismatch",
        # the top bit of S's last byte: S >= L, refused before any curve arithmetic
        "sig byte 63 bad_signature s_out_of_range"]
    assert [x for x in lines if x.startswith("altered ")] == [f"altered hash_mismatch {e['path']}" for e in m["files"]]
    assert [x for x in lines if x.startswith("truncated ")] == [f"truncated size_mismatch {e['path']}"
                                                                for e in m["files"]]
    assert "other key bad_signature signature_mismatch" in lines
    assert "install sim 1.1.0 ok" in lines
    assert "install sim 1.2.0 not_newer 1.2.0" in lines
    assert "install sim 0.9.9 too_old needs 1.0.0" in lines
    assert "install tracker board wrong_board esp32_tracker" in lines
    assert [x for x in lines if x.startswith("install other mpy")] == [f"install other mpy wrong_mpy {m['mpy']}"]


def test_given_a_manifest_resigned_by_another_key_then_the_device_refuses_it(button_release, key_dir, tmp_path):
    other = tmp_path / "other-center"
    keys.create(other)
    body = (button_release / bundle.MANIFEST).read_bytes()
    (tmp_path / "m.json").write_bytes(body)
    (tmp_path / "m.sig").write_bytes(keys.load_private(other).sign(wire.signed_message(body)))
    script = tmp_path / "resigned.py"
    script.write_text("import sys\nfrom binascii import unhexlify\nfrom protocols import release\n"
                      "b = open(sys.argv[1] + '/m.json', 'rb').read()\n"
                      "s = open(sys.argv[1] + '/m.sig', 'rb').read()\n"
                      "for pub in sys.argv[2:]:\n"
                      "    print(release.open_manifest(b, s, unhexlify(pub))[1])\n")
    p = run_script(script, str(tmp_path), keys.load_public(key_dir).hex(), keys.load_public(other).hex())
    out = p.stdout.decode().splitlines()
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    # The center's key: not its signature. A device that (also) trusts the other key: the
    # signature is good, but the manifest names the key it was built for.
    assert out == ["bad_signature signature_mismatch", "bad_manifest key " + json.loads(body)["key"]]
