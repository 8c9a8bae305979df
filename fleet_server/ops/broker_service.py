"""The project's Mosquitto as a service (deploy/systemd/siaga-broker.service): its config, password
file and ACL written into <data_dir>/broker before every start, as the tests and the demo write
theirs (fleet_server/broker/mosquitto.py). Device accounts already in the directory (written by
provisioning, fleet_server/provisioning/broker_sync.py) are kept; the server's account comes from
the settings (broker.username, broker.password); the TLS listener uses `siaga pki`'s certificate."""
from __future__ import annotations

from pathlib import Path

from fleet_server.broker.mosquitto import Mosquitto, TlsListener
from fleet_server.broker.pki import CA_CERT
from fleet_server.i18n import N_, Message


class BrokerConfigError(Exception):
    pass


def write_config(broker_dir: Path, pki_dir: Path, server_user: str, server_password: str, port: int = 1883,
                 tls_port: int = 8883, tls: bool = True, workers: int = 0) -> Mosquitto:
    """workers: the server's accounts of workers w1..wN too (<server_user>-w<i>, same password;
    several workers, docs/deploy.md "Several workers")."""
    broker_dir, pki_dir = Path(broker_dir), Path(pki_dir)
    listener = None
    if tls:
        cert, key = pki_dir / "broker.pem", pki_dir / "broker.key"
        missing = [str(p) for p in (cert, key, pki_dir / CA_CERT) if not p.is_file()]
        if missing:
            raise BrokerConfigError(Message(N_("no broker certificate: {files} missing (siaga pki create-ca; "
                                               "siaga pki server-cert --host NAME)"), files=", ".join(missing)))
        listener = TlsListener(cert, key, port=tls_port, ca=pki_dir / CA_CERT)
    if not server_password:
        raise BrokerConfigError(Message(N_("broker.password is empty (SIAGA_BROKER__PASSWORD): the server could "
                                            "not log in")))
    fresh = Mosquitto(broker_dir, port=port, tls=listener)
    if (broker_dir / "mosquitto.conf").is_file():
        for account in Mosquitto.attach(broker_dir).accounts.values():
            fresh.add_hashed(account.username, account.password_hash, account.role)
    fresh.add_account(server_user, server_password, role="server")
    for i in range(1, workers + 1):
        fresh.add_account(f"{server_user}-w{i}", server_password, role="server")
    fresh._write_files()   # what start() writes; systemd starts mosquitto itself
    return fresh
