"""The provisioning steps, their journal, and their rollback.

    prov = Provisioning(Site(registry, broker_dir, database_url, data_dir, broker_host, broker_port,
                             watch_user, watch_password))
    done = prov.provision(DeviceSpec(kind="button", site="Taman Lansia", lat=-6.9021, lon=107.6224),
                          port="/dev/ttyUSB0")
    done.password     # shown once by the caller, never logged, never stored here

Order, and why:
  1. every check that can fail, before anything changes anywhere: the config the firmware would
     refuse, the account's role, the tracker's unit, the broker's directory and process and the
     server's database (for the reload), the watcher's broker login, the port answering with a
     REPL, the device id free (or --replace). A wrong option costs nothing;
  2. the device record and its credential hash in ONE API call (POST, or PATCH for --replace or a
     resume), so the server never holds a device without credentials or credentials without a device;
  3. the broker's password file is rewritten from the server and Mosquitto reloads;
  4. the files are written and their sha256 checked on the device;
  5. reboot; the device's birth and first heartbeat arrive and the server shows it online;
  6. a tracker is bound to its unit (--unit), so its positions move the unit.
A failure after 2 rolls back: the credential is revoked and the record deactivated (the API has no
delete), the broker reloads without it, and the journal says rolled_back with the reason. Running the
same command again resumes that device id without --replace (a fresh secret; the journal never holds
one)."""
from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from fleet_server import logs
from fleet_server.i18n import N_, Message
from fleet_server.broker.credentials import new_secret
from fleet_server.provisioning import broker_sync, label
from fleet_server.provisioning.device_link import DeviceLink
from fleet_server.provisioning.errors import NeverOnline, PortError, ProvisioningError
from fleet_server.provisioning.firmware_files import device_files
from fleet_server.provisioning.journal import Journal
from fleet_server.provisioning.online import OnlineWatch
from fleet_server.provisioning.registry import DeviceRegistry
from protocols import topics
from protocols.messages import CATEGORIES, KINDS

log = logging.getLogger("siaga.provisioning")

CA_FILE = "ca.pem"   # on the device's flash: the one CA its broker must be signed by
RELEASE_PUB = "release.pub"   # on the device's flash: the key its updates must be signed with (firmware/app/ota.py)
ID_PREFIX = {"button": "btn", "tracker": "trk", "gateway": "gw"}


@dataclass
class Site:
    """Where the fleet lives: the server's API, its database and broker, and how to watch the broker."""
    registry: DeviceRegistry
    broker_dir: Path
    database_url: str
    data_dir: Path
    broker_host: str                  # what the device connects to
    broker_port: int
    watch_user: str                   # the server's or an observer's broker account
    watch_password: str
    watch_host: str | None = None     # default: broker_host
    watch_port: int | None = None
    repl_timeout_s: float = 10.0
    online_timeout_s: float = 60.0
    broker_ca: Path | None = None     # the CA that signed the broker's certificate: the device connects over
                                      # TLS and trusts only a broker it signed; None: plain MQTT (said on the label)
    release_pub: Path | None = None   # the center's release public key (release.pub, hex): written to the
                                      # device, which then takes only releases signed by it; None: no updates


@dataclass
class DeviceSpec:
    kind: str
    site: str = ""
    lat: float | None = None
    lon: float | None = None
    unit: str | None = None
    device_id: str | None = None
    category: str = "unknown"
    board: str | None = None                       # esp32_button, picow_button, sim; None: every port
    settings: dict = field(default_factory=dict)   # more config.json keys (wifi_ssid, heartbeat_s, ...)


@dataclass
class Provisioned:
    device_id: str
    kind: str
    site: str
    password: str
    check_code: str
    label_path: Path
    birth: dict
    health: dict
    files: int
    bytes: int
    seconds: float


def new_device_id(kind: str) -> str:
    return f"{ID_PREFIX.get(kind, 'dev')}-{secrets.token_hex(3)}"


def _udeg(v: float | None, limit: float, outside: str) -> int | None:
    if v is None:
        return None
    if not -limit <= v <= limit:
        raise ProvisioningError(outside, value=v, limit=f"{limit:g}")
    return round(v * 1_000_000)


class Provisioning:
    def __init__(self, site: Site, on_step: Callable[[str, str], None] | None = None,
                 on_file: Callable[[str, int, int], None] | None = None):
        self.site = site
        self.on_step = on_step or (lambda step, text: None)
        self.on_file = on_file

    # ---- checks that change nothing --------------------------------------------------------------
    def _validate(self, spec: DeviceSpec) -> tuple[str, int | None, int | None, str]:
        if spec.kind not in KINDS:
            raise ProvisioningError(N_("unknown kind {kind}"), N_("one of {kinds}"), kind=repr(spec.kind),
                                    kinds=", ".join(KINDS))
        device_id = spec.device_id or new_device_id(spec.kind)
        if not topics.valid_device_id(device_id):
            raise ProvisioningError(N_("{device_id} is not a device id"), N_("1..32 of a-z A-Z 0-9 - _"),
                                    device_id=repr(device_id))
        if spec.category not in CATEGORIES:
            raise ProvisioningError(N_("unknown category {category}"), N_("one of {categories}"),
                                    category=repr(spec.category), categories=", ".join(CATEGORIES))
        lat = _udeg(spec.lat, 90, N_("latitude {value} is outside -{limit}..{limit}"))
        lon = _udeg(spec.lon, 180, N_("longitude {value} is outside -{limit}..{limit}"))
        if spec.kind == "button" and (lat is None or lon is None):
            raise ProvisioningError(N_("a button is fixed: give its --lat and --lon"),
                                    N_("read them off the phone's map at the pole"))
        site = spec.site or (spec.unit or "")
        if spec.kind == "tracker" and not site:
            raise ProvisioningError(N_("a tracker needs its --unit (e.g. AMB-03)"))
        return device_id, lat, lon, site

    def _config(self, spec: DeviceSpec, device_id: str, password: str, lat, lon, site) -> dict:
        cfg = {"dev": device_id, "password": password, "host": self.site.broker_host,
               "port": self.site.broker_port, "category": spec.category}
        if self.site.broker_ca:
            cfg.update({"tls": True, "ca_file": CA_FILE})
        if spec.kind == "button":
            cfg.update({"site": site[:64], "lat": lat, "lon": lon})
        cfg.update(spec.settings)
        return cfg

    def _release_pub(self) -> bytes:
        try:
            text = Path(self.site.release_pub).read_text().strip()
        except OSError as e:
            raise ProvisioningError(N_("cannot read the release key {path}: {error}"),
                                    N_("siaga firmware keys creates it"),
                                    path=self.site.release_pub, error=e.strerror) from None
        try:
            ok = len(bytes.fromhex(text)) == 32
        except ValueError:
            ok = False
        if not ok:
            raise ProvisioningError(N_("{path} does not hold a 32-byte public key in hex"), path=self.site.release_pub)
        return (text.lower() + "\n").encode()

    def _ca_pem(self) -> bytes:
        try:
            pem = Path(self.site.broker_ca).read_bytes()
        except OSError as e:
            raise ProvisioningError(N_("cannot read the broker's CA {path}: {error}"),
                                    N_("siaga pki show, or pass --broker-ca"),
                                    path=self.site.broker_ca, error=e.strerror) from None
        if b"-----BEGIN CERTIFICATE-----" not in pem:
            raise ProvisioningError(N_("{path} is not a PEM certificate"), path=self.site.broker_ca)
        return pem

    # ---- the steps ------------------------------------------------------------------------------
    def provision(self, spec: DeviceSpec, port: str, replace: bool = False) -> Provisioned:
        t0 = time.monotonic()
        device_id, lat, lon, site = self._validate(spec)
        journal = Journal(self.site.data_dir, device_id)
        # Build and check the files with a placeholder password first: a config the firmware would
        # refuse is found before anything is registered.
        device_files(spec.kind, self._config(spec, device_id, "x" * 24, lat, lon, site), spec.board)
        if self.site.broker_ca:
            self._ca_pem()
        if self.site.release_pub:
            self._release_pub()
        self.site.registry.require_role("technician")
        unit = self._unit_for(spec)
        broker_sync.check(self.site.broker_dir, self.site.database_url)
        self.on_step("checks", Message(N_("server account, broker at {dir} and database ready"),
                                       dir=self.site.broker_dir))
        watch = OnlineWatch(self.site.watch_host or self.site.broker_host, self.site.watch_port or self.site.broker_port,
                            self.site.watch_user, self.site.watch_password, device_id)
        try:
            self.on_step("port", Message(N_("opening {port}"), port=port))
            link = DeviceLink(port, repl_timeout_s=self.site.repl_timeout_s)
            try:
                link.enter()
                self.on_step("port", Message(N_("MicroPython answered on {port}"), port=port))
                existing = self.site.registry.get(device_id)
                resuming = journal.unfinished
                if existing is not None and not (replace or resuming):
                    raise ProvisioningError(
                        N_("device {device_id} is already registered ({kind} at {site}, {status})"),
                        N_("pass --replace to re-provision it (its current credentials stop working), "
                           "or pick another --id"),
                        device_id=device_id, kind=existing["kind"], site=existing["site"] or "-",
                        status=existing["status"])
                if existing is not None and existing["kind"] != spec.kind:
                    raise ProvisioningError(N_("device {device_id} is registered as a {kind}, not a {wanted}"),
                                            device_id=device_id, kind=existing["kind"], wanted=spec.kind)
                if resuming:
                    last = journal.record.get("error")
                    self.on_step("journal", Message(N_("resuming {device_id} (last run: {state}, {error})"),
                                                    device_id=device_id, state=journal.state,
                                                    error=last or Message(N_("cut off"))))

                password = new_secret()
                files = device_files(spec.kind, self._config(spec, device_id, password, lat, lon, site), spec.board)
                if self.site.broker_ca:
                    files.files[CA_FILE] = self._ca_pem()
                if self.site.release_pub:
                    files.files[RELEASE_PUB] = self._release_pub()
                journal.begin({"kind": spec.kind, "site": site, "lat_udeg": lat, "lon_udeg": lon, "unit": spec.unit,
                               "category": spec.category, "board": spec.board, "port": port,
                               "replace": bool(existing)})
                try:
                    return self._steps(spec, device_id, site, lat, lon, password, files, existing, link, journal,
                                       t0, watch, unit)
                except BaseException as e:   # a Ctrl-C mid-way is rolled back too
                    self._rollback(device_id, journal, e)
                    raise
            finally:
                link.close()
        finally:
            watch.close()

    def _unit_for(self, spec: DeviceSpec) -> dict | None:
        """The unit a tracker is to be bound to: it must be registered already (dispatch needs its
        agency and type, which the technician does not type here)."""
        if spec.kind != "tracker" or not spec.unit:
            return None
        unit = self.site.registry.unit(spec.unit)
        if unit is None:
            raise ProvisioningError(N_("unit {unit} is not registered on the server"),
                                    N_("check the callsign (GET /api/v1/units), or register the unit first "
                                       "(POST /api/v1/units, docs/dispatch.md)"), unit=spec.unit)
        return unit

    def _steps(self, spec, device_id, site, lat, lon, password, files, existing, link, journal, t0,
               watch: OnlineWatch, unit: dict | None) -> Provisioned:
        fields = {"site": site, "lat_udeg": lat, "lon_udeg": lon, "category": spec.category,
                  "broker_password_hash": broker_sync.hash_for(self.site.broker_dir, password)}
        if spec.board:
            fields["board"] = spec.board       # campaigns target by it; releases are offered by it
        if existing is None:
            self.site.registry.register(device_id, spec.kind, **fields)
        else:
            self.site.registry.update(device_id, {**fields, "active": True})
        journal.mark("registered")
        self.on_step("registered", Message(N_("{device_id} registered with its credential hash"), device_id=device_id))
        logs.event(log, logging.INFO, "device_registered", device=device_id, kind=spec.kind, replace=existing is not None)

        synced = broker_sync.sync(self.site.broker_dir, self.site.database_url)
        journal.mark("broker")
        self.on_step("broker", Message(N_("broker reloaded ({n} device accounts, pid {pid})"), n=synced.devices,
                                       pid=synced.pid))
        if synced.unusable:
            logs.event(log, logging.WARNING, "broker_unusable_credentials", devices=synced.unusable)
            self.on_step("broker", Message(N_("{n} other devices hold a credential this broker cannot take: "
                                              "rotate them (siaga device rotate)"), n=synced.unusable))

        total = files.total_bytes
        done = [0]

        def wrote(path: str, n: int) -> None:
            done[0] += n
            if self.on_file:
                self.on_file(path, done[0], total)
        link.write_files(files.files, wrote)
        bad = link.check_files(files.files)
        if bad:
            raise PortError(N_("{n} files differ on the device after writing: {files}"),
                            N_("flash full or failing; try `siaga device flash` with erase"),
                            n=len(bad), files=", ".join(bad[:5]))
        journal.mark("files")
        self.on_step("files", Message(N_("{n} files, {size} bytes written and checked"), n=len(files.files), size=total))

        watch.reset()   # only what this boot says counts
        link.reboot()
        self.on_step("reboot", Message(N_("rebooted; waiting for its birth and first heartbeat")))
        birth, health = watch.wait(self.site.online_timeout_s)
        self._wait_server_online(device_id)
        journal.mark("verified")
        self.on_step("verified", Message(N_("online: boot {boot}, firmware {firmware}, server shows it online"),
                                         boot=birth.get("boot"), firmware=birth.get("fw")))
        if unit is not None:
            self.site.registry.bind_unit(unit["id"], device_id)
            if unit.get("device_id") not in (None, device_id):
                bound = Message(N_("bound to unit {unit} (was {was}): its positions now move the unit"),
                                unit=unit["id"], was=unit["device_id"])
            else:
                bound = Message(N_("bound to unit {unit}: its positions now move the unit"), unit=unit["id"])
            self.on_step("unit", bound)

        stamp = time.time()
        code = label.check_code(device_id, site, stamp)
        png = label.render(Path(self.site.data_dir) / "labels" / f"{device_id}.png", device_id, spec.kind, site, code)
        journal.record["check_code"] = code
        journal.finish("done")
        return Provisioned(device_id, spec.kind, site, password, code, png, birth, health, len(files.files),
                           files.total_bytes, time.monotonic() - t0)

    def _wait_server_online(self, device_id: str) -> None:
        deadline = time.monotonic() + self.site.online_timeout_s
        view = None
        while time.monotonic() < deadline:
            view = self.site.registry.get(device_id)
            if view is not None and view["status"] == "online":
                return
            time.sleep(0.2)
        raise NeverOnline(N_("the broker saw {device_id} online but the server still shows {status}"),
                          N_("is the server's MQTT ingest connected (GET /healthz broker_link)?"),
                          device_id=device_id, status=(view or {}).get("status", "nothing"))

    def _rollback(self, device_id: str, journal: Journal, cause: BaseException) -> None:
        why = str(cause) or type(cause).__name__
        first = cause.reason if isinstance(cause, ProvisioningError) else why.splitlines()[0]
        self.on_step("rollback", Message(N_("failed: {why} — revoking the credential"), why=first))
        try:
            if self.site.registry.get(device_id) is not None:
                self.site.registry.update(device_id, {"broker_password_hash": None, "active": False})
            broker_sync.sync(self.site.broker_dir, self.site.database_url)
            journal.finish("rolled_back", why)
            logs.event(log, logging.WARNING, "provisioning_rolled_back", device=device_id, reason=why.splitlines()[0])
        except ProvisioningError as e:
            journal.finish("rollback_failed", f"{why}; rollback: {e}")
            logs.event(log, logging.ERROR, "provisioning_rollback_failed", device=device_id, reason=str(e))
            self.on_step("rollback", Message(N_("ROLLBACK FAILED ({error}); run `siaga device decommission "
                                                "{device_id}`"), error=e.reason, device_id=device_id))

    # ---- after provisioning -------------------------------------------------------------------------
    def decommission(self, device_id: str) -> broker_sync.SyncResult:
        if self.site.registry.get(device_id) is None:
            raise ProvisioningError(N_("no device {device_id} on the server"), device_id=device_id)
        self.site.registry.update(device_id, {"broker_password_hash": None, "active": False})
        synced = broker_sync.sync(self.site.broker_dir, self.site.database_url)
        journal = Journal(self.site.data_dir, device_id)
        if journal.exists:
            journal.finish("rolled_back" if journal.state != "done" else "done", "decommissioned")
        logs.event(log, logging.INFO, "device_decommissioned", device=device_id)
        return synced

    def rotate(self, device_id: str, port: str) -> tuple[str, dict, dict]:
        """A fresh secret: written into the device's config.json over the cable, then the server's
        hash and the broker change, then the device reboots and must come online with it."""
        import json

        view = self.site.registry.get(device_id)
        if view is None:
            raise ProvisioningError(N_("no device {device_id} on the server"), device_id=device_id)
        link = DeviceLink(port, repl_timeout_s=self.site.repl_timeout_s)
        try:
            link.enter()
            try:
                cfg = json.loads(link.transport.fs_readfile("config.json"))
            except Exception as e:   # noqa: BLE001 - any failure to read means the board is not ours
                raise PortError(N_("cannot read config.json on {port}: {error}"), N_("provision the device first"),
                                port=port, error=e) from None
            if cfg.get("dev") != device_id:
                raise ProvisioningError(N_("the board on {port} is {found}, not {device_id}"),
                                        port=port, found=repr(cfg.get("dev")), device_id=device_id)
            password = new_secret()
            cfg["password"] = password
            link.write_files({"config.json": json.dumps(cfg, sort_keys=True).encode()}, fresh=False)
            self.site.registry.update(device_id, {"broker_password_hash": broker_sync.hash_for(self.site.broker_dir, password), "active": True})
            broker_sync.sync(self.site.broker_dir, self.site.database_url)
            watch = OnlineWatch(self.site.watch_host or self.site.broker_host, self.site.watch_port or self.site.broker_port,
                                self.site.watch_user, self.site.watch_password, device_id)
            try:
                link.reboot()
                birth, health = watch.wait(self.site.online_timeout_s)
            finally:
                watch.close()
            logs.event(log, logging.INFO, "device_credentials_rotated", device=device_id)
            return password, birth, health
        finally:
            link.close()
