"""Fixtures of the web-edge tests: the real fleet server as a subprocess (no broker link: these
tests are about HTTP), users of every role, and throwaway certificates made with `cryptography`
(a CA and a server certificate it signs, for 127.0.0.1 and localhost)."""
from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleet_server.api.security import ROLES
from tests.console.conftest import console, wait_until as wait_for  # noqa: F401  (a fixture, a helper)
from tests.support.server import FleetServer

NO_BROKER = SimpleNamespace(host="127.0.0.1", port=9)   # never dialled: SIAGA_RUN_INGEST=false
PASSWORDS = {role: f"{role}-password-1" for role in ROLES}


@dataclass
class Certs:
    ca: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """What a browser of the center does: trust the city's CA and check the name."""
        return ssl.create_default_context(cafile=str(self.ca))


def make_certs(where: Path, names=("localhost",), ips=("127.0.0.1",)) -> Certs:
    where.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Siaga test city CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    out = Certs(where / "ca.crt", where / "server.crt", where / "server.key")
    out.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    out.key.chmod(0o600)
    return out


def start_web_server(workdir: Path, env: dict | None = None) -> FleetServer:
    srv = FleetServer(workdir, NO_BROKER, env={"SIAGA_RUN_INGEST": "false", **(env or {})}).start()
    try:
        srv.tokens = {"admin": srv.token}
        for role in ROLES:
            if role == "admin":
                continue
            station = {"station_id": "polrestabes-bandung"} if role == "station" else {}   # a station user's station
            r = srv.api("POST", "/users", json={"username": role, "password": PASSWORDS[role], "role": role, **station})
            assert r.status_code == 201, r.text
            srv.tokens[role] = srv.login(role, PASSWORDS[role])
    except BaseException:
        srv.stop()
        raise
    return srv


@pytest.fixture
def web(tmp_path):
    srv = start_web_server(tmp_path / "srv")
    try:
        yield srv
    finally:
        srv.stop()
