"""Make the project's Mosquitto accept exactly the devices the fleet server says hold credentials.

The password file is rewritten from the server's database (active devices with a broker password
hash), keeping the service accounts the broker's generated ACL names (`user fleet-server`,
`user observer`); then Mosquitto gets SIGHUP. Mosquitto 2.0 re-checks connected clients on reload,
so a revoked device is disconnected, not only refused at its next connect. The ACL itself is not
touched: its `pattern ... %u` lines already pin each device (username = device id) to its topics.

The clustered broker (fleet_server/broker/nats_cluster.py, `siaga cluster start`) is the other
broker a directory may hold (its cluster.json): there the device accounts are rewritten from the same
database rows, and the nodes re-read them (SIGHUP); a device that lost its credential keeps its
account there under a password nobody has (NatsCluster.lock_account). NATS takes bcrypt hashes only, so on a cluster
site provisioning stores a bcrypt hash (hash_for); a device whose stored hash is another kind (made
for Mosquitto) cannot log in there and is counted (SyncResult.unusable): `siaga device rotate` gives
it a new one.

Why the database and not the API: the API never shows hashes (by design), and the broker runs
beside the server's database; a server endpoint that hands the broker its account list would let
this run elsewhere."""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from fleet_server.broker.credentials import hash_password
from fleet_server.broker.mosquitto import _atomic_write
from fleet_server.i18n import N_
from fleet_server.provisioning.errors import BrokerError
from fleet_server.storage import devices as device_repo
from fleet_server.storage.db import Database


RELOAD_SETTLE_S = 0.2


@dataclass(frozen=True)
class SyncResult:
    devices: int      # device accounts now in the password file (the cluster's accounts)
    services: int     # service accounts kept
    pid: int          # the Mosquitto that got SIGHUP (on a cluster: its first node)
    unusable: int = 0  # credentialed devices whose hash this broker cannot take


def is_cluster(broker_dir: Path) -> bool:
    """The directory `siaga cluster start` wrote (cluster.json), not a Mosquitto's."""
    return (Path(broker_dir) / "cluster.json").is_file()


def hash_for(broker_dir: Path, password: str) -> str:
    """The hash the broker in `broker_dir` checks a device's password against."""
    if is_cluster(broker_dir):
        from fleet_server.broker.nats_cluster import bcrypt_hash
        return bcrypt_hash(password)
    return hash_password(password)


def service_accounts(acl: Path) -> set[str]:
    """Usernames given their own `user` block in the generated ACL: the server and observers."""
    names = set()
    for line in acl.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "user":
            names.add(parts[1])
    return names


def credentialed_devices(database_url: str) -> dict[str, str]:
    """device id -> password hash, for every active device that holds credentials."""
    db = Database(database_url, migrate=False)
    try:
        with db.read() as s:
            return {d.id: d.broker_password_hash for d in device_repo.listing(s, limit=10_000_000)
                    if d.active and d.broker_password_hash}
    finally:
        db.dispose()


def broker_pid(broker_dir: Path) -> int:
    """The Mosquitto running with this directory's config: its pid file if it wrote one, else the
    process whose command line names <broker_dir>/mosquitto.conf."""
    pid_file = broker_dir / "mosquitto.pid"
    if pid_file.is_file():
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (ValueError, ProcessLookupError, PermissionError):
            pass
    conf = str((broker_dir / "mosquitto.conf").resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue   # the process ended while we looked
        args = [a.decode(errors="replace") for a in argv if a]
        if args and Path(args[0]).name == "mosquitto" and "-c" in args:
            i = args.index("-c")
            if i + 1 < len(args) and str(Path(args[i + 1]).resolve()) == conf:
                return int(entry.name)
    raise BrokerError(N_("no running Mosquitto uses {conf}"),
                      N_("start the broker (`make demo` or the server's broker), or pass --broker-dir"), conf=conf)


def _files(broker_dir: Path) -> tuple[Path, Path]:
    acl, passwd = broker_dir / "acl", broker_dir / "passwd"
    if not acl.is_file() or not passwd.is_file():
        raise BrokerError(N_("{dir} holds no generated acl/passwd"),
                          N_("--broker-dir must be the directory the project's Mosquitto was started from "
                             "(the demo's: export SIAGA_CONFIG=run/demo/siaga.toml)"), dir=broker_dir)
    return acl, passwd


def check(broker_dir: Path, database_url: str) -> int:
    """Everything sync() needs, changing nothing: the broker's files, a Mosquitto running with them
    (its pid), the password file writable, the server's database readable. Provisioning calls it
    before it registers anything, so a wrong --broker-dir costs nothing."""
    broker_dir = Path(broker_dir)
    if is_cluster(broker_dir):
        pid, passwd = _cluster_pid(_cluster(broker_dir), broker_dir), broker_dir / "cluster.json"
    else:
        _acl, passwd = _files(broker_dir)
        pid = broker_pid(broker_dir)
    if not os.access(passwd, os.W_OK) or not os.access(broker_dir, os.W_OK):
        raise BrokerError(N_("cannot rewrite {file}"), N_("run as the user that owns the broker's directory"),
                          file=passwd)
    try:
        credentialed_devices(database_url)
    except Exception as e:  # noqa: BLE001 - any failure to read it means the wrong database
        shown = make_url(database_url).render_as_string(hide_password=True)
        raise BrokerError(N_("cannot read the server's database {url}: {error}"),
                          N_("--database-url must be the fleet server's database"),
                          url=shown, error=str(e).splitlines()[0][:200]) from None
    return pid


def _cluster(broker_dir: Path):
    from fleet_server.broker.nats_cluster import NatsCluster
    return NatsCluster.attach(broker_dir)


def _cluster_pid(c, broker_dir: Path) -> int:
    """A running node of the cluster c (the first that is)."""
    for n in c.nodes:
        pid = c._pid(n)
        if pid:
            try:
                os.kill(pid, 0)
                return pid
            except (ProcessLookupError, PermissionError):
                continue
    raise BrokerError(N_("no node of the cluster in {dir} is running"), N_("siaga cluster start"), dir=broker_dir)


def _cluster_sync(broker_dir: Path, database_url: str) -> SyncResult:
    c = _cluster(broker_dir)
    pid = _cluster_pid(c, broker_dir)
    services = {u for u, a in c.accounts.items() if a.role != "device"}
    devices = credentialed_devices(database_url)
    usable = {dev: h for dev, h in devices.items() if h.startswith("$2") and dev not in services}
    for dev, h in sorted(usable.items()):
        c.add_hashed(dev, h, role="device")
    # A device no longer credentialed is locked, not dropped: the nodes this runs on crash on a
    # reload that drops a user with retained messages (NatsCluster.remove_account).
    for user in [u for u, a in c.accounts.items() if a.role == "device" and u not in usable]:
        c.lock_account(user)
    try:
        c.reload()
    except (ProcessLookupError, RuntimeError) as e:
        raise BrokerError(N_("the cluster in {dir} could not reload its accounts: {error}"),
                          N_("siaga cluster status"), dir=broker_dir, error=str(e)[:200]) from None
    return SyncResult(devices=len(usable), services=len(services), pid=pid,
                      unusable=len([d for d in devices if d not in usable and d not in services]))


def sync(broker_dir: Path, database_url: str) -> SyncResult:
    broker_dir = Path(broker_dir)
    if is_cluster(broker_dir):
        return _cluster_sync(broker_dir, database_url)
    acl, passwd = _files(broker_dir)
    pid = broker_pid(broker_dir)
    keep = service_accounts(acl)
    lines = [ln for ln in passwd.read_text().splitlines() if ln.split(":", 1)[0] in keep]
    devices = credentialed_devices(database_url)
    taken = {dev: h for dev, h in devices.items() if dev not in keep and h.startswith(("$6$", "$7$"))}
    lines += [f"{dev}:{h}" for dev, h in sorted(taken.items())]
    _atomic_write(passwd, "\n".join(lines) + "\n")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise BrokerError(N_("Mosquitto (pid {pid}) ended before it could reload"), N_("restart the broker"),
                          pid=pid) from None
    # SIGHUP is handled in the broker's next loop pass; give it that moment (as Mosquitto.reload does)
    # so a login right after this call meets the new accounts.
    time.sleep(RELOAD_SETTLE_S)
    return SyncResult(devices=len(taken), services=len(lines) - len(taken), pid=pid,
                      unusable=len([d for d in devices if d not in taken and d not in keep]))
