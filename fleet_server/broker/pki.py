"""The city's certificates for the broker's TLS listener: a city CA (or the city's own, imported)
and server certificates it signs. Devices are provisioned with the CA certificate and trust only a
broker whose certificate that CA signed (the firmware pins it; docs/deploy.md "Certificates").

Keys are ECDSA P-256 (what the firmware's mbedTLS handshakes fastest) and are written 0600 in a
0700 directory; certificates are public and written 0644."""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleet_server.i18n import N_, Message
from fleet_server.secrets_files import private_dir, write_private, write_public

CA_CERT, CA_KEY = "ca.pem", "ca.key"


class PkiError(ValueError):
    """A certificate or key the broker cannot use, with the reason."""


@dataclass(frozen=True)
class ServerCert:
    cert: Path
    key: Path
    ca: Path


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def create_ca(directory: Path, name: str = "Siaga 112 city CA", org: str = "Siaga 112", days: int = 3650,
              overwrite: bool = False) -> Path:
    """A new city CA in `directory` (ca.pem, ca.key). Refuses to replace an existing one unless told:
    every provisioned device trusts the old one."""
    directory = private_dir(directory)
    if (directory / CA_CERT).exists() and not overwrite:
        raise PkiError(Message(N_("a CA already exists in {dir}: devices trust it (replacing it, --force, "
                                  "means provisioning every device again)"), dir=directory))
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    subject = _name(name, org)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    write_private(directory / CA_KEY, _key_pem(key))
    write_public(directory / CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
    return directory / CA_CERT


def import_ca(directory: Path, cert_pem: bytes, key_pem: bytes | None = None) -> Path:
    """The city's own CA: its certificate (and, to let `server_cert` sign here, its key). A key is
    checked against the certificate; a certificate that is not a CA is refused."""
    directory = private_dir(directory)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as e:
        raise PkiError(Message(N_("not a PEM certificate: {error}"), error=e)) from None
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise PkiError(Message(N_("this certificate is not a CA (basicConstraints CA:TRUE missing)")))
    if key_pem is not None:
        key = _load_key(key_pem)
        if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
                cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
            raise PkiError(Message(N_("the key does not belong to this CA certificate")))
        write_private(directory / CA_KEY, _key_pem(key))
    write_public(directory / CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
    return directory / CA_CERT


def _load_key(pem: bytes):
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise PkiError(Message(N_("not an unencrypted PEM private key: {error}"), error=e)) from None


def server_cert(directory: Path, hosts: list[str], name: str = "broker", days: int = 825) -> ServerCert:
    """A server certificate for the broker signed by the CA in `directory`; `hosts` are the names and
    IP addresses devices connect to (each becomes a subjectAltName; the firmware checks it)."""
    directory = private_dir(directory)
    if not hosts:
        raise PkiError(Message(N_("give at least one host name or IP address the devices connect to")))
    try:
        ca_cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        ca_key = _load_key((directory / CA_KEY).read_bytes())
    except FileNotFoundError as e:
        raise PkiError(Message(N_("no CA in {dir} ({file} missing): create or import one first"), dir=directory,
                               file=e.filename)) from None
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(hosts[0], "Siaga 112")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    out = ServerCert(directory / f"{name}.pem", directory / f"{name}.key", directory / CA_CERT)
    write_private(out.key, _key_pem(key))
    write_public(out.cert, cert.public_bytes(serialization.Encoding.PEM))
    return out


def import_server_cert(directory: Path, cert_pem: bytes, key_pem: bytes, name: str = "broker") -> ServerCert:
    """A server certificate the city issued itself, checked against its key and the CA in `directory`."""
    directory = private_dir(directory)
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = _load_key(key_pem)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, spki) != cert.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise PkiError(Message(N_("the key does not belong to this certificate")))
    try:
        ca_cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
    except FileNotFoundError:
        raise PkiError(Message(N_("no CA in {dir}: import the CA that signed this certificate first"),
                               dir=directory)) from None
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, Exception) as e:  # InvalidSignature has no common base with ValueError
        raise PkiError(Message(N_("this certificate was not issued by the CA in {dir}: {error}"), dir=directory,
                               error=repr(e))) from None
    out = ServerCert(directory / f"{name}.pem", directory / f"{name}.key", directory / CA_CERT)
    write_private(out.key, _key_pem(key))
    write_public(out.cert, cert.public_bytes(serialization.Encoding.PEM))
    return out
