"""`siaga device ...`: technician commands (provision, flash, rotate-credentials, decommission, list,
status). Mounted by fleet_server/cli.py as `app.add_typer(device_app, name="device")`.

Defaults come from the server's Settings (SIAGA_* environment or the SIAGA_CONFIG file, which
`siaga demo` writes for itself): the server URL (http.host/port), the broker directory
<data_dir>/broker, the database, the broker host/port and account that watches the device come
online. The API needs a technician: --user (asks for the password) or --token."""
from __future__ import annotations

import datetime
import json
import logging
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Column, Table

from fleet_server.broker import session_user
from fleet_server.i18n import _, localized
from fleet_server.provisioning import firmware_files
from fleet_server.provisioning.errors import ProvisioningError, ServerError

device_app = typer.Typer(help="Technician tools: provision devices over USB serial, flash, rotate, decommission.",
                         no_args_is_help=True)
console = Console()

SERVER = typer.Option(None, "--server", envvar="SIAGA_SERVER_URL", show_default=False,
                      help="fleet server URL (default: http://<http.host>:<http.port> from settings, "
                           "http://127.0.0.1:8112)")
TOKEN = typer.Option("", "--token", envvar="SIAGA_TOKEN", help="technician access token (or --user)")
USER = typer.Option(None, "--user", envvar="SIAGA_USER", help="log in as this technician (asks for the password)")
PASSWORD = typer.Option(None, "--password", envvar="SIAGA_PASSWORD", help="the --user's password")
BROKER_DIR = typer.Option(None, "--broker-dir", help="the broker's directory: the project Mosquitto's "
                                                     "(default <data_dir>/broker) or the clustered broker's "
                                                     "(<data_dir>/cluster)")
DB_URL = typer.Option(None, "--database-url", help="the server's database (default from settings)")
DATA_DIR = typer.Option(None, "--data-dir", help="journals and labels go under it (default from settings)")
BOARDS = ", ".join(firmware_files.BOARDS)


@device_app.callback()
def _commands() -> None:
    """Technician tools: provision devices over USB serial, flash, rotate, decommission."""
    _log_to_file()


def _settings_obj():
    from fleet_server.settings import Settings

    return Settings()


def _log_to_file() -> None:
    """The steps' structured log goes to <data_dir>/provisioning/provisioning.log (JSON lines),
    not between the lines the technician reads."""
    from fleet_server.logs import JsonFormatter

    log = logging.getLogger("siaga")
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        path = _settings_obj().data_dir / "provisioning" / "provisioning.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path)
        handler.setFormatter(JsonFormatter())
    except (OSError, ValueError):
        handler = logging.NullHandler()   # no place to keep it: the screen says what happened
    log.handlers[:] = [handler]


def _registry(server: str | None, token: str, user: str | None, password: str | None):
    from fleet_server.provisioning.registry import DeviceRegistry

    if not server:
        http = _settings_obj().http
        server = f"http://{http.host}:{http.port}"
    if token or not user:
        return DeviceRegistry(server, token)
    if password is None:
        password = typer.prompt(_("Password for {user}").format(user=user), hide_input=True, err=True)
    return DeviceRegistry.login(server, user, password)


def _broker(broker_dir: Path):
    """The broker `broker_dir` was written for: the project's Mosquitto or the clustered broker
    (`siaga cluster start`); both have .tls and .accounts (username -> .role)."""
    from fleet_server.provisioning.broker_sync import is_cluster
    if is_cluster(broker_dir):
        from fleet_server.broker.nats_cluster import NatsCluster
        return NatsCluster.attach(broker_dir)
    from fleet_server.broker import Mosquitto
    return Mosquitto.attach(broker_dir)


def _device_tls(broker_dir: Path) -> tuple[int | None, Path | None]:
    """The project broker's TLS listener (port, CA), read from its generated config; (None, None)
    when it has none."""
    try:
        tls = _broker(broker_dir).tls
    except (OSError, StopIteration, ValueError, KeyError):
        return None, None
    return (tls.port, tls.ca) if tls else (None, None)


def _watch_user(broker_dir, username: str) -> str:
    """The account that watches a device come online. A server account's own name is the running
    server's main session (client ids are bound to accounts): watching with it would take that session
    and be taken back, so a server account watches on its `watch` session; an observer as itself."""
    try:
        account = _broker(broker_dir).accounts.get(username)
    except (OSError, StopIteration, ValueError, KeyError, IndexError):
        return username
    return session_user(username, "watch") if account is not None and account.role == "server" else username


def _site(registry, broker_dir, database_url, data_dir, mqtt_host=None, mqtt_port=None, device_host=None,
          device_port=None, mqtt_user=None, mqtt_password=None, repl_timeout=10.0, online_timeout=60.0,
          broker_ca=None, tls=False):
    from fleet_server.provisioning.provision import Site

    st = _settings_obj()
    data = Path(data_dir) if data_dir else st.data_dir
    broker_dir = Path(broker_dir) if broker_dir else data / "broker"
    tls_port, tls_ca = _device_tls(broker_dir) if tls else (None, None)
    ca = (Path(broker_ca) if broker_ca else tls_ca) if tls else None
    if tls and ca is None:
        raise ProvisioningError(_("no CA to give the device: the broker has no TLS listener and no --broker-ca was given"),
                                _("siaga pki create-ca / server-cert (docs/deploy.md, Certificates), or --no-tls for a "
                                  "module without TLS (SIM800: the device then reports plain MQTT in its health)"))
    from fleet_server.releases import keys
    pub = keys.default_dir(data) / keys.PUBLIC     # `siaga firmware keys` made it: the device trusts it
    return Site(registry=registry, broker_dir=broker_dir,
                database_url=database_url or st.sqlalchemy_url, data_dir=data, broker_ca=ca,
                release_pub=pub if pub.is_file() else None,
                broker_host=device_host or mqtt_host or st.broker.host,
                broker_port=device_port or (tls_port if tls and tls_port else None) or mqtt_port or st.broker.port,
                watch_user=mqtt_user or _watch_user(broker_dir, st.broker.username), watch_password=mqtt_password or st.broker.password,
                watch_host=mqtt_host or st.broker.host, watch_port=mqtt_port or st.broker.port,
                repl_timeout_s=repl_timeout, online_timeout_s=online_timeout)


def _fail(e: ProvisioningError) -> None:
    console.print(f"[bold red]✗ {localized(e.reason)}[/]")
    if e.hint:
        console.print("  [yellow]" + _("check:") + f"[/] {localized(e.hint)}")
    raise typer.Exit(1)


def _settings(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(_("--set wants key=value, got {pair}").format(pair=repr(pair)))
        try:
            out[key] = json.loads(value)       # numbers and true/false as JSON
        except ValueError:
            out[key] = value                   # anything else is text
    return out


@device_app.command()
def provision(port: str = typer.Option(..., "--port", help="the board's serial port, e.g. /dev/ttyUSB0"),
              kind: str = typer.Option(..., "--kind", help="button|tracker|gateway"),
              board: str = typer.Option(None, "--board", help=f"one of {BOARDS} (default: every port's files)"),
              site: str = typer.Option("", "--site", help='where it is installed, e.g. "Taman Lansia"'),
              lat: float = typer.Option(None, "--lat"), lon: float = typer.Option(None, "--lon"),
              unit: str = typer.Option(None, "--unit", help="a tracker's unit, e.g. AMB-03 (registered already): "
                                                            "the tracker is bound to it"),
              device_id: str = typer.Option(None, "--id", help="default: generated (btn-xxxxxx)"),
              category: str = typer.Option("unknown", "--category", help="what its SOS key reports"),
              replace: bool = typer.Option(False, "--replace", help="re-provision an existing device id"),
              wifi_ssid: str = typer.Option(None, "--wifi-ssid"),
              wifi_password: str = typer.Option(None, "--wifi-password", envvar="SIAGA_WIFI_PASSWORD"),
              set_: list[str] = typer.Option([], "--set", help="more config.json settings, key=value"),
              server: str = SERVER, token: str = TOKEN, user: str = USER, password: str = PASSWORD,
              broker_dir: Path = BROKER_DIR, database_url: str = DB_URL, data_dir: Path = DATA_DIR,
              mqtt_host: str = typer.Option(None, "--mqtt-host"), mqtt_port: int = typer.Option(None, "--mqtt-port"),
              device_host: str = typer.Option(None, "--device-host", help="broker host as the device sees it"),
              device_port: int = typer.Option(None, "--device-port"),
              mqtt_user: str = typer.Option(None, "--mqtt-user", help="account that watches the device come online"),
              mqtt_password: str = typer.Option(None, "--mqtt-password", envvar="SIAGA_WATCH_PASSWORD"),
              repl_timeout: float = typer.Option(10.0, "--repl-timeout"),
              online_timeout: float = typer.Option(60.0, "--online-timeout"),
              broker_ca: Path = typer.Option(None, "--broker-ca", help="the CA the broker's certificate chains to "
                                             "(default: the project broker's, siaga pki)"),
              tls: bool = typer.Option(True, "--tls/--no-tls", help="the device connects over TLS and checks the "
                                       "broker against the CA; --no-tls only for modules without TLS (SIM800)")) -> None:
    """Register, credential, write and verify one device on a USB serial port."""
    from fleet_server.provisioning import label
    from fleet_server.provisioning.provision import DeviceSpec, Provisioning

    extra = _settings(set_)
    if wifi_ssid:
        extra["wifi_ssid"] = wifi_ssid
    if wifi_password:
        extra["wifi_password"] = wifi_password
    spec = DeviceSpec(kind=kind, site=site, lat=lat, lon=lon, unit=unit, device_id=device_id, category=category,
                      board=board, settings=extra)
    shown = _FileProgress(console)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(_("writing files"), total=None, visible=False)

        def step(name: str, text: str) -> None:
            style = "red" if name == "rollback" else "green"
            bar.console.print(f"[{style}]{'✗' if name == 'rollback' else '✓'}[/] {localized(text)}")

        def file(path: str, done: int, total: int) -> None:
            bar.update(task, visible=True, completed=done, total=total, description=_("writing {path}").format(path=path))
            shown.update(path, done, total)

        try:
            registry = _registry(server, token, user, password)
            site_ = _site(registry, broker_dir, database_url, data_dir, mqtt_host, mqtt_port, device_host,
                          device_port, mqtt_user, mqtt_password, repl_timeout, online_timeout, broker_ca, tls)
            done = Provisioning(site_, on_step=step, on_file=file).provision(spec, port, replace=replace)
        except ProvisioningError as e:
            bar.stop()
            _fail(e)
    console.print(label.ascii_qr(done.device_id, done.site, done.check_code))
    console.print("[bold green]" + _("done") + "[/]: " + _("{device} ({kind}) at {site} in {seconds} s").format(
        device=done.device_id, kind=done.kind, site=done.site or "-", seconds=f"{done.seconds:.1f}"))
    console.print("  " + _("label: {path}  check code: {code}").format(path=done.label_path, code=f"[bold]{done.check_code}[/]"))
    # Shown once, here, on the technician's screen; it is on the device and hashed on the server.
    console.print("  " + _("broker password (shown once, not stored): {password}").format(password=f"[bold]{done.password}[/]"))


class _FileProgress:
    """Where no progress bar can be drawn (a log, a pipe), a line each time another tenth of the
    bytes has landed: a real board at 115,200 baud takes many seconds for the firmware."""

    def __init__(self, out: Console):
        self.out = out
        self.shown = -1

    def update(self, path: str, done: int, total: int) -> None:
        if self.out.is_terminal or total <= 0:
            return
        tenth = done * 10 // total
        if tenth != self.shown:
            self.shown = tenth
            self.out.print("  " + _("writing files: {done} of {total} KB ({path})").format(
                done=f"{done / 1024:.0f}", total=f"{total / 1024:.0f}", path=path), highlight=False)


@device_app.command()
def flash(port: str = typer.Option(..., "--port"), image: Path = typer.Option(..., "--image", help="MicroPython .bin"),
          chip: str = typer.Option("esp32", "--chip"), baud: int = typer.Option(460800, "--baud"),
          erase: bool = typer.Option(True, "--erase/--no-erase", help="erase the whole flash first"),
          dry_run: bool = typer.Option(False, "--dry-run", help="print the esptool command only")) -> None:
    """Write a MicroPython image onto an ESP32 (esptool)."""
    from fleet_server.provisioning import flash as flashing

    try:
        argv = flashing.write_flash_args(port, image, chip, baud, erase)
        if dry_run:
            console.print("esptool " + " ".join(argv))
            return
        flashing.flash(port, image, chip, baud, erase)
    except ProvisioningError as e:
        _fail(e)
    console.print("[green]✓[/] " + _("MicroPython written to the {chip} on {port}; now `siaga device provision --port {port} ...`")
                  .format(chip=chip, port=port))


@device_app.command("rotate-credentials")
def rotate_credentials(device_id: str, port: str = typer.Option(..., "--port"), server: str = SERVER,
                       token: str = TOKEN, user: str = USER, password: str = PASSWORD, broker_dir: Path = BROKER_DIR, database_url: str = DB_URL,
                       data_dir: Path = DATA_DIR, mqtt_host: str = typer.Option(None, "--mqtt-host"),
                       mqtt_port: int = typer.Option(None, "--mqtt-port"),
                       mqtt_user: str = typer.Option(None, "--mqtt-user"),
                       mqtt_password: str = typer.Option(None, "--mqtt-password", envvar="SIAGA_WATCH_PASSWORD"),
                       online_timeout: float = typer.Option(60.0, "--online-timeout")) -> None:
    """Give a device a fresh broker password (over its cable) and revoke the old one."""
    from fleet_server.provisioning.provision import Provisioning

    try:
        site = _site(_registry(server, token, user, password), broker_dir, database_url, data_dir, mqtt_host,
                     mqtt_port, mqtt_user=mqtt_user,
                     mqtt_password=mqtt_password, online_timeout=online_timeout)
        password, birth, _link = Provisioning(site).rotate(device_id, port)
    except ProvisioningError as e:
        _fail(e)
    console.print("[green]✓[/] " + _("{device} is back online (boot {boot}) with its new credential").format(
        device=device_id, boot=birth.get("boot")))
    console.print("  " + _("broker password (shown once, not stored): {password}").format(password=f"[bold]{password}[/]"))


@device_app.command()
def decommission(device_id: str, server: str = SERVER, token: str = TOKEN, user: str = USER,
                 password: str = PASSWORD, broker_dir: Path = BROKER_DIR,
                 database_url: str = DB_URL, data_dir: Path = DATA_DIR,
                 yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Revoke a device's credentials: the broker refuses it from now on (and drops it if connected)."""
    from fleet_server.provisioning.provision import Provisioning

    if not yes:
        typer.confirm(_("Decommission {device}? It will no longer be able to connect").format(device=device_id), abort=True)
    try:
        site = _site(_registry(server, token, user, password), broker_dir, database_url, data_dir)
        synced = Provisioning(site).decommission(device_id)
    except ProvisioningError as e:
        _fail(e)
    console.print("[green]✓[/] " + _("{device} decommissioned; broker reloaded ({n} device accounts)").format(
        device=device_id, n=synced.devices))


@device_app.command("register-tracker")
def register_tracker(protocol: str = typer.Option(..., "--protocol", help="gt06|osmand|owntracks|traccar"),
                     identifier: str = typer.Option(..., "--identifier",
                                                    help="GT06 IMEI, OsmAnd id, OwnTracks user/device, Traccar uniqueId"),
                     unit: str = typer.Option(None, "--unit", help="the unit this device tracks"),
                     server: str = SERVER, token: str = TOKEN, user: str = USER, password: str = PASSWORD) -> None:
    """A tracker or phone app the city already has (docs/adapters.md): register it and bind it to its unit."""
    from fleet_server.adapters.binding import device_id
    from protocols.rejection import Rejection

    dev = device_id(protocol, identifier)
    if isinstance(dev, Rejection):
        console.print(f"[bold red]✗ {dev.reason}[/]")
        raise typer.Exit(2)
    try:
        reg = _registry(server, token, user, password)
        try:
            if unit and reg.unit(unit) is None:   # checked first: nothing is registered half-way
                _fail(ServerError(_("unit {unit} is not registered").format(unit=unit),
                                  _("register the unit first (POST /api/v1/units)")))
            if reg.get(dev) is None:
                reg.register(dev, "tracker")
                console.print("[green]✓[/] " + _("registered {device}").format(device=dev))
            else:
                console.print(_("{device} is already registered").format(device=dev))
            if unit:
                reg.bind_unit(unit, dev)
                console.print("[green]✓[/] " + _("{device} tracks unit {unit}").format(device=dev, unit=unit))
        finally:
            reg.close()
    except ProvisioningError as e:
        _fail(e)


@device_app.command("list")
def list_devices(kind: str = typer.Option(None, "--kind"), server: str = SERVER, token: str = TOKEN,
                 user: str = USER, password: str = PASSWORD, data_dir: Path = DATA_DIR) -> None:
    """Devices on the server, with credentials and any unfinished provisioning here."""
    from fleet_server.provisioning.journal import Journal

    data = Path(data_dir) if data_dir else _settings_obj().data_dir
    try:
        rows = _registry(server, token, user, password).listing(kind)
    except ProvisioningError as e:
        _fail(e)
    # Ids are what a technician types next: never shortened, whatever the terminal's width.
    # Kinds, statuses and journal states are the server's codes, shown as they are.
    heads = [_("id"), _("kind"), _("site"), _("status"), _("active"), _("credentials"), _("provisioning")]
    table = Table(Column(heads[0], no_wrap=True, min_width=max([len(heads[0])] + [len(d["id"]) for d in rows])),
                  *heads[1:])
    for d in rows:
        j = Journal(data, d["id"])
        table.add_row(d["id"], d["kind"], d["site"] or "-", d["status"], _yes(d["active"]),
                      _yes(d["has_broker_password"]), j.state if j.exists else "-")
    console.print(table)


def _yes(flag) -> str:
    return _("yes") if flag else _("no")


def when(ts: float | None, now: float | None = None) -> str:
    """A Unix time as the technician reads it: local date and time, and how long ago."""
    if ts is None:
        return _("never")
    now = time.time() if now is None else now
    local = datetime.datetime.fromtimestamp(ts).astimezone()
    ago = max(0, int(now - ts))
    span = (_("{n} s") if ago < 120 else _("{n} min") if ago < 7200 else _("{n} h")).format(
        n=ago if ago < 120 else ago // 60 if ago < 7200 else ago // 3600)
    return _("{time} ({span} ago)").format(time=f"{local:%Y-%m-%d %H:%M:%S %Z}", span=span)


@device_app.command()
def status(device_id: str, server: str = SERVER, token: str = TOKEN, user: str = USER, password: str = PASSWORD,
           data_dir: Path = DATA_DIR) -> None:
    """One device: the server's view (status, health, last seen) and the local provisioning journal."""
    from fleet_server.provisioning.journal import Journal

    data = Path(data_dir) if data_dir else _settings_obj().data_dir
    try:
        registry = _registry(server, token, user, password)
        view = registry.get(device_id)
    except ProvisioningError as e:
        _fail(e)
    binding = None
    if view is not None and view["kind"] == "tracker":
        try:
            unit = registry.unit_of(device_id)
            binding = ("  " + _("tracks unit {unit} ({status})").format(unit=f"[bold]{unit['id']}[/]", status=unit["status"])
                       if unit else
                       "  [yellow]" + _("bound to no unit") + "[/]: " + _(
                           "its positions move nothing; bind it with `siaga device provision ... --unit CALLSIGN` "
                           "or `siaga device register-tracker --unit`"))
        except ProvisioningError as e:   # a server that tracks no units: nothing to say about one
            binding = "  " + _("unit: unknown ({why})").format(why=localized(e.reason))
    j = Journal(data, device_id)
    if view is None and not j.exists:
        console.print("[red]" + _("no device {device}").format(device=device_id) + "[/]")
        raise typer.Exit(1)
    if view is not None:
        console.print(_("{device} ({kind}) at {site}: {status}, {active}, credentials {credentials}, last seen {seen}").format(
            device=view["id"], kind=view["kind"], site=view["site"] or "-", status=f"[bold]{view['status']}[/]",
            active=_("active") if view["active"] else _("inactive"), credentials=_yes(view["has_broker_password"]),
            seen=when(view["last_seen"])))
        if binding:
            console.print(binding)
        health = {k: v for k, v in (view.get("health") or {}).items() if v is not None}
        if health:
            console.print("  " + _("health: {values}").format(values=", ".join(f"{k}={v}" for k, v in health.items())))
    if j.exists:
        # the journal's own step names and state, as `siaga device list` shows them
        steps = ", ".join(s for s in ("registered", "broker", "files", "verified") if j.done(s)) or _("none")
        console.print("  " + (_("provisioning: {state}; steps done: {steps}; error: {error}") if j.record.get("error") else
                              _("provisioning: {state}; steps done: {steps}")).format(
            state=j.state, steps=steps, error=j.record.get("error")))
