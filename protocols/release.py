# A firmware release as a device checks it before installing anything: the Ed25519 signature by
# the center's release key over the manifest's digest, then the manifest's promises (this board, this version
# step, this bytecode format), then every file's size and SHA-256 against its manifest entry.
# The server builds manifests with encode() below, so both sides share one encoding.
#
# Each check returns None when all is well, otherwise a reason: a short code, a space, and what
# was wrong ("hash_mismatch firmware/app/button.mpy"), for the device's log and the center's.
import hashlib
import json
from binascii import hexlify

from protocols import ed25519
from protocols.canonical import dump_value

FORMAT = 1
# What the center signs: this prefix and the manifest's SHA-256, not the manifest itself. Ed25519
# runs SHA-512 over everything it signs, and devices have no native SHA-512: hashing a 6 KB
# manifest in Python doubled a verify (see docs/ota.md); SHA-256 is native (hardware on the ESP32).
# The prefix keeps a release signature from meaning anything in another context.
SIGNED_PREFIX = b"siaga112 firmware manifest v1\n"
# A bundle as a directory: the manifest, its signature, and the files under their device paths.
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
FILES = "files"
FIELDS = ("format", "version", "kind", "boards", "min_version", "mpy", "created", "key", "files")
FILE_FIELDS = ("path", "size", "sha256", "boards")
_CHUNK = 512


def encode(manifest):
    """The manifest's canonical bytes (sorted keys, no spaces): what the signature covers."""
    return dump_value(manifest).encode()


def signed_message(manifest_bytes):
    """The bytes the release key signs for this manifest."""
    return SIGNED_PREFIX + hashlib.sha256(manifest_bytes).digest()


def parse_version(text):
    """(major, minor, patch) from "1.4.0", or None when text is not such a version."""
    if type(text) is not str:
        return None
    parts = text.split(".")
    if len(parts) != 3:
        return None
    out = []
    for p in parts:
        if not p or len(p) > 6 or not all(c in "0123456789" for c in p) or (len(p) > 1 and p[0] == "0"):
            return None
        out.append(int(p))
    return tuple(out)


def key_id(public_key):
    """Names a release key in manifests (the first 8 bytes of its SHA-256, hex), so a device that
    trusts more than one key during a rotation knows which one to use."""
    return hexlify(hashlib.sha256(public_key).digest()[:8]).decode()


def _shape_problem(m):
    if type(m) is not dict:
        return "bad_manifest not an object"
    for f in FIELDS:
        if f not in m:
            return "bad_manifest missing " + f
    if m["format"] != FORMAT:
        return "bad_manifest format %s" % (m["format"],)
    for f in ("version", "min_version"):
        if parse_version(m[f]) is None:
            return "bad_manifest " + f
    if type(m["boards"]) is not list or not m["boards"]:
        return "bad_manifest boards"
    if type(m["files"]) is not list or not m["files"]:
        return "bad_manifest files"
    for e in m["files"]:
        if type(e) is not dict:
            return "bad_manifest file entry"
        for f in FILE_FIELDS:
            if f not in e:
                return "bad_manifest file entry missing " + f
        p = e["path"]
        if type(p) is not str or not p or p[0] == "/" or ".." in p.split("/"):
            return "bad_manifest path %s" % (p,)
        if type(e["size"]) is not int or e["size"] < 0 or type(e["sha256"]) is not str or len(e["sha256"]) != 64:
            return "bad_manifest entry " + p
    return None


def _read(path):
    f = open(path, "rb")
    try:
        return f.read()
    finally:
        f.close()


def read_bundle(root):
    """(manifest bytes, signature) of the bundle directory at root (a str path)."""
    return _read(root + "/" + MANIFEST), _read(root + "/" + SIGNATURE)


def open_manifest(manifest_bytes, signature, public_key):
    """(manifest dict, None) when the bytes are signed by public_key and well formed, otherwise
    (None, reason). Nothing in the manifest is read before its signature is checked."""
    why = ed25519.check(public_key, signed_message(manifest_bytes), signature)
    if why is not None:
        return None, "bad_signature " + why
    # Signed, so written by the center's encoder: the runtime's own parser is enough here (the
    # strict grammar check the wire codecs need costs a device 100 ms on a 6 KB manifest).
    try:
        m = json.loads(bytes(manifest_bytes).decode())
    except (ValueError, UnicodeError):
        return None, "bad_manifest not JSON"
    why = _shape_problem(m)
    if why is not None:
        return None, why
    if m["key"] != key_id(public_key):
        return None, "bad_manifest key %s" % (m["key"],)
    return m, None


def upgrade_problem(manifest, board, current_version, mpy_version):
    """Whether a device (its board, running current_version, loading .mpy files of mpy_version)
    may install this release; None if it may."""
    if board not in manifest["boards"]:
        return "wrong_board %s" % (board,)
    if manifest["mpy"] != mpy_version:
        return "wrong_mpy %s" % (manifest["mpy"],)
    current = parse_version(current_version)
    if current is None:
        return "bad_version %s" % (current_version,)
    if parse_version(manifest["version"]) <= current:
        return "not_newer %s" % (manifest["version"],)
    if current < parse_version(manifest["min_version"]):
        return "too_old needs %s" % (manifest["min_version"],)
    return None


def files_for(manifest, board):
    """The manifest's file entries this board installs."""
    return [e for e in manifest["files"] if board in e["boards"]]


def digest_stream(f):
    """(size, hex SHA-256) of a readable binary stream, read in small chunks (a device's heap)."""
    h = hashlib.sha256()
    size = 0
    buf = bytearray(_CHUNK)
    mv = memoryview(buf)
    while True:
        n = f.readinto(buf)
        if not n:
            break
        h.update(mv[:n])
        size += n
    return size, hexlify(h.digest()).decode()


def file_problem(entry, size, sha256_hex):
    """None when a file's size and SHA-256 are the ones its manifest entry promises."""
    if size != entry["size"]:
        return "size_mismatch %s (%d, not %d)" % (entry["path"], size, entry["size"])
    if sha256_hex != entry["sha256"]:
        return "hash_mismatch " + entry["path"]
    return None
