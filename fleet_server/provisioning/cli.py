"""`siaga device ...`: technician commands (provision, flash, rotate-credentials, decommission, list,
status). Mounted by fleet_server/cli.py as `app.add_typer(device_app, name="device")`.

Defaults come from the server's Settings (SIAGA_* environment or siaga.toml): the broker directory
<data_dir>/broker, the database, the broker host/port and the server's broker account (to watch the
device come online). The API needs --server/--token (or SIAGA_SERVER_URL / SIAGA_TOKEN)."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
from rich.table import Table

from fleet_server.provisioning.errors import ProvisioningError

device_app = typer.Typer(help="Technician tools: provision devices over USB serial, flash, rotate, decommission.",
                         no_args_is_help=True)
console = Console()

SERVER = typer.Option("http://127.0.0.1:8112", "--server", envvar="SIAGA_SERVER_URL", help="fleet server URL")
TOKEN = typer.Option("", "--token", envvar="SIAGA_TOKEN", help="technician access token")
BROKER_DIR = typer.Option(None, "--broker-dir", help="the project Mosquitto's directory (default <data_dir>/broker)")
DB_URL = typer.Option(None, "--database-url", help="the server's database (default from settings)")
DATA_DIR = typer.Option(None, "--data-dir", help="journals and labels go under it (default from settings)")


def _site(server, token, broker_dir, database_url, data_dir, mqtt_host=None, mqtt_port=None, device_host=None,
          device_port=None, mqtt_user=None, mqtt_password=None, repl_timeout=10.0, online_timeout=60.0):
    from fleet_server.provisioning.provision import Site
    from fleet_server.provisioning.registry import DeviceRegistry
    from fleet_server.settings import Settings

    st = Settings()
    data = Path(data_dir) if data_dir else st.data_dir
    return Site(registry=DeviceRegistry(server, token), broker_dir=Path(broker_dir) if broker_dir else data / "broker",
                database_url=database_url or st.sqlalchemy_url, data_dir=data,
                broker_host=device_host or mqtt_host or st.mqtt_host, broker_port=device_port or mqtt_port or st.mqtt_port,
                watch_user=mqtt_user or st.mqtt_username, watch_password=mqtt_password or st.mqtt_password,
                watch_host=mqtt_host or st.mqtt_host, watch_port=mqtt_port or st.mqtt_port,
                repl_timeout_s=repl_timeout, online_timeout_s=online_timeout)


def _fail(e: ProvisioningError) -> None:
    console.print(f"[bold red]✗ {e.reason}[/]")
    if e.hint:
        console.print(f"  [yellow]check:[/] {e.hint}")
    raise typer.Exit(1)


def _settings(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--set wants key=value, got {pair!r}")
        try:
            out[key] = json.loads(value)       # numbers and true/false as JSON
        except ValueError:
            out[key] = value                   # anything else is text
    return out


@device_app.command()
def provision(port: str = typer.Option(..., "--port", help="the board's serial port, e.g. /dev/ttyUSB0"),
              kind: str = typer.Option(..., "--kind", help="button|tracker|gateway"),
              board: str = typer.Option(None, "--board", help="esp32_button|picow_button|sim (default: every port)"),
              site: str = typer.Option("", "--site", help='where it is installed, e.g. "Taman Lansia"'),
              lat: float = typer.Option(None, "--lat"), lon: float = typer.Option(None, "--lon"),
              unit: str = typer.Option(None, "--unit", help="the vehicle of a tracker, e.g. AMB-03"),
              device_id: str = typer.Option(None, "--id", help="default: generated (btn-xxxxxx)"),
              category: str = typer.Option("unknown", "--category", help="what its SOS key reports"),
              replace: bool = typer.Option(False, "--replace", help="re-provision an existing device id"),
              wifi_ssid: str = typer.Option(None, "--wifi-ssid"),
              wifi_password: str = typer.Option(None, "--wifi-password", envvar="SIAGA_WIFI_PASSWORD"),
              set_: list[str] = typer.Option([], "--set", help="more config.json settings, key=value"),
              server: str = SERVER, token: str = TOKEN, broker_dir: Path = BROKER_DIR, database_url: str = DB_URL,
              data_dir: Path = DATA_DIR,
              mqtt_host: str = typer.Option(None, "--mqtt-host"), mqtt_port: int = typer.Option(None, "--mqtt-port"),
              device_host: str = typer.Option(None, "--device-host", help="broker host as the device sees it"),
              device_port: int = typer.Option(None, "--device-port"),
              mqtt_user: str = typer.Option(None, "--mqtt-user", help="account that watches the device come online"),
              mqtt_password: str = typer.Option(None, "--mqtt-password", envvar="SIAGA_WATCH_PASSWORD"),
              repl_timeout: float = typer.Option(10.0, "--repl-timeout"),
              online_timeout: float = typer.Option(60.0, "--online-timeout")) -> None:
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
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task("writing files", total=None, visible=False)

        def step(name: str, text: str) -> None:
            style = "red" if name == "rollback" else "green"
            bar.console.print(f"[{style}]{'✗' if name == 'rollback' else '✓'}[/] {text}")

        def file(path: str, done: int, total: int) -> None:
            bar.update(task, visible=True, completed=done, total=total, description=f"writing {path}")

        try:
            site_ = _site(server, token, broker_dir, database_url, data_dir, mqtt_host, mqtt_port, device_host,
                          device_port, mqtt_user, mqtt_password, repl_timeout, online_timeout)
            done = Provisioning(site_, on_step=step, on_file=file).provision(spec, port, replace=replace)
        except ProvisioningError as e:
            bar.stop()
            _fail(e)
    console.print(label.ascii_qr(done.device_id, done.site, done.check_code))
    console.print(f"[bold green]done[/]: {done.device_id} ({done.kind}) at {done.site or '-'} in {done.seconds:.1f} s")
    console.print(f"  label: {done.label_path}  check code: [bold]{done.check_code}[/]")
    # Shown once, here, on the technician's screen; it is on the device and hashed on the server.
    console.print(f"  broker password (shown once, not stored): [bold]{done.password}[/]")


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
    console.print(f"[green]✓[/] MicroPython written to the {chip} on {port}; now `siaga device provision --port {port} ...`")


@device_app.command("rotate-credentials")
def rotate_credentials(device_id: str, port: str = typer.Option(..., "--port"), server: str = SERVER,
                       token: str = TOKEN, broker_dir: Path = BROKER_DIR, database_url: str = DB_URL,
                       data_dir: Path = DATA_DIR, mqtt_host: str = typer.Option(None, "--mqtt-host"),
                       mqtt_port: int = typer.Option(None, "--mqtt-port"),
                       mqtt_user: str = typer.Option(None, "--mqtt-user"),
                       mqtt_password: str = typer.Option(None, "--mqtt-password", envvar="SIAGA_WATCH_PASSWORD"),
                       online_timeout: float = typer.Option(60.0, "--online-timeout")) -> None:
    """Give a device a fresh broker password (over its cable) and revoke the old one."""
    from fleet_server.provisioning.provision import Provisioning

    try:
        site = _site(server, token, broker_dir, database_url, data_dir, mqtt_host, mqtt_port, mqtt_user=mqtt_user,
                     mqtt_password=mqtt_password, online_timeout=online_timeout)
        password, birth, _ = Provisioning(site).rotate(device_id, port)
    except ProvisioningError as e:
        _fail(e)
    console.print(f"[green]✓[/] {device_id} is back online (boot {birth.get('boot')}) with its new credential")
    console.print(f"  broker password (shown once, not stored): [bold]{password}[/]")


@device_app.command()
def decommission(device_id: str, server: str = SERVER, token: str = TOKEN, broker_dir: Path = BROKER_DIR,
                 database_url: str = DB_URL, data_dir: Path = DATA_DIR,
                 yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Revoke a device's credentials: the broker refuses it from now on (and drops it if connected)."""
    from fleet_server.provisioning.provision import Provisioning

    if not yes:
        typer.confirm(f"Decommission {device_id}? It will no longer be able to connect", abort=True)
    try:
        synced = Provisioning(_site(server, token, broker_dir, database_url, data_dir)).decommission(device_id)
    except ProvisioningError as e:
        _fail(e)
    console.print(f"[green]✓[/] {device_id} decommissioned; broker reloaded ({synced.devices} device accounts)")


@device_app.command("list")
def list_devices(kind: str = typer.Option(None, "--kind"), server: str = SERVER, token: str = TOKEN,
                 data_dir: Path = DATA_DIR) -> None:
    """Devices on the server, with credentials and any unfinished provisioning here."""
    from fleet_server.provisioning.journal import Journal
    from fleet_server.provisioning.registry import DeviceRegistry
    from fleet_server.settings import Settings

    data = Path(data_dir) if data_dir else Settings().data_dir
    try:
        rows = DeviceRegistry(server, token).listing(kind)
    except ProvisioningError as e:
        _fail(e)
    table = Table("id", "kind", "site", "status", "active", "credentials", "provisioning")
    for d in rows:
        j = Journal(data, d["id"])
        table.add_row(d["id"], d["kind"], d["site"] or "-", d["status"], "yes" if d["active"] else "no",
                      "yes" if d["has_broker_password"] else "no", j.state if j.exists else "-")
    console.print(table)


@device_app.command()
def status(device_id: str, server: str = SERVER, token: str = TOKEN, data_dir: Path = DATA_DIR) -> None:
    """One device: the server's view (status, health, last seen) and the local provisioning journal."""
    from fleet_server.provisioning.journal import Journal
    from fleet_server.provisioning.registry import DeviceRegistry
    from fleet_server.settings import Settings

    data = Path(data_dir) if data_dir else Settings().data_dir
    try:
        view = DeviceRegistry(server, token).get(device_id)
    except ProvisioningError as e:
        _fail(e)
    j = Journal(data, device_id)
    if view is None and not j.exists:
        console.print(f"[red]no device {device_id}[/]")
        raise typer.Exit(1)
    if view is not None:
        console.print(f"{view['id']} ({view['kind']}) at {view['site'] or '-'}: [bold]{view['status']}[/], "
                      f"{'active' if view['active'] else 'inactive'}, credentials "
                      f"{'yes' if view['has_broker_password'] else 'no'}, last seen {view['last_seen']}")
        health = {k: v for k, v in (view.get("health") or {}).items() if v is not None}
        if health:
            console.print("  health: " + ", ".join(f"{k}={v}" for k, v in health.items()))
    if j.exists:
        steps = ", ".join(s for s in ("registered", "broker", "files", "verified") if j.done(s)) or "none"
        console.print(f"  provisioning: {j.state}; steps done: {steps}"
                      + (f"; error: {j.record['error']}" if j.record.get("error") else ""))
