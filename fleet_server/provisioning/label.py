"""The sticker on the device: a QR code of its id, site and a short check code, saved as PNG.

The check code lets a technician or a citizen's report confirm that a label belongs to the record
on the server (a re-provisioned device gets a new code): 6 characters of base32 of
sha256(id | site | registered-at), no I/O/0/1 confusion since base32 has no 0, 1, 8, 9."""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont


def check_code(device_id: str, site: str, stamp: float) -> str:
    digest = hashlib.sha256(f"{device_id}|{site}|{stamp:.3f}".encode()).digest()
    return base64.b32encode(digest).decode()[:6]


def qr_text(device_id: str, site: str, code: str) -> str:
    return f"SIAGA112;dev={device_id};site={site};chk={code}"


def render(path: Path, device_id: str, kind: str, site: str, code: str) -> Path:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=2)
    qr.add_data(qr_text(device_id, site, code))
    qr.make(fit=True)
    img = qr.make_image(fill_color="black", back_color="white").convert("RGB")
    font = ImageFont.load_default(size=18)
    lines = ["SIAGA 112", f"{kind}: {device_id}", site[:40], f"check {code}"]
    height = img.height + 24 * len(lines) + 12
    label = Image.new("RGB", (max(img.width, 360), height), "white")
    label.paste(img, ((label.width - img.width) // 2, 0))
    draw = ImageDraw.Draw(label)
    for i, line in enumerate(lines):
        draw.text((12, img.height + 6 + 24 * i), line, fill="black", font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    label.save(path)
    return path


def ascii_qr(device_id: str, site: str, code: str) -> str:
    import io

    qr = qrcode.QRCode(border=1)
    qr.add_data(qr_text(device_id, site, code))
    out = io.StringIO()
    qr.print_ascii(out=out)
    return out.getvalue()
