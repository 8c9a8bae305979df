"""The `siaga` command."""
from pathlib import Path

import typer

from fleet_server.i18n import _, localized

app = typer.Typer(help="Siaga 112: field-device fleet of a 112 emergency command center.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Siaga 112 command line."""


# ---- fleet server ----------------------------------------------------------------------------
admin_app = typer.Typer(help="Administration of the fleet server.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@app.command()
def serve(host: str = typer.Option(None, help="default: settings.http.host"),
          port: int = typer.Option(None, help="default: settings.http.port"),
          certfile: Path = typer.Option(None, help="serve HTTPS with this PEM certificate chain "
                                                   "(default: settings.http.tls_certfile)"),
          keyfile: Path = typer.Option(None, help="its PEM private key (default: settings.http.tls_keyfile)")) -> None:
    """Run the fleet server (API, MQTT ingest, supervision) under uvicorn: HTTPS when given a
    certificate, else plain HTTP for loopback or behind the TLS proxy (deploy/nginx)."""
    from fleet_server import logs
    from fleet_server.settings import Settings

    settings = Settings()
    logs.setup(settings.log.level, settings.log.json_lines)
    cert = certfile or settings.http.tls_certfile or None
    key = keyfile or settings.http.tls_keyfile or None
    if bool(cert) != bool(key):
        raise typer.BadParameter(_("HTTPS needs both a certificate and its key (--certfile and --keyfile)"))
    for p in (cert, key):
        if p and not Path(p).is_file():
            raise typer.BadParameter(_("{path}: no such file").format(path=p))
    # The alarm path first (fleet_server/core.py): alarms that waited through a restart are
    # committed and acked while the HTTP app, which needs a few seconds more, is imported.
    from fleet_server.core import start_early
    core = start_early(settings)
    import uvicorn

    from fleet_server.app import create_app
    uvicorn.run(create_app(settings, core=core), host=host or settings.http.host, port=port or settings.http.port,
                log_config=None, access_log=False, ssl_certfile=cert and str(cert), ssl_keyfile=key and str(key),
                proxy_headers=True, forwarded_allow_ips=settings.http.forwarded_allow_ips)


@admin_app.command("create-user")
def create_user(username: str, role: str = typer.Option("admin", help="viewer|station|operator|dispatcher|technician|admin"),
                password: str = typer.Option(None, help="at least 8 characters; asked for (twice, hidden) when omitted",
                                             show_default=False),
                station: str = typer.Option(None, help="the station area id a user of role station works at",
                                            show_default=False),
                language: str = typer.Option(None, help="the console's language for this user: en or id "
                                                        "(default: the center's, settings console.language)")) -> None:
    """Create a console user (the first admin, typically) in the server's database (Settings:
    SIAGA_DATABASE_URL / SIAGA_DATA_DIR, or the SIAGA_CONFIG file `siaga demo` prints)."""
    from fleet_server.api.refusals import HttpRefused
    from fleet_server.api.routes.auth import create_user_record
    from fleet_server.api.security import ROLES
    from fleet_server.settings import Settings
    from fleet_server.storage.db import Database

    if role not in ROLES:
        raise typer.BadParameter(_("role must be one of {roles}").format(roles=", ".join(ROLES)))
    _check_language(language)
    if password is None:
        password = typer.prompt(_("Password"), hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise typer.BadParameter(_("password needs at least 8 characters"))
    url = Settings().sqlalchemy_url
    db = Database(url)
    try:
        create_user_record(db, username, password, role, "cli", station, language or None)
    except HttpRefused as e:
        typer.echo(_("not created: {reason}").format(reason=e.reason), err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    typer.echo(_("user {username} ({role}) created in {where}").format(username=username, role=role, where=_where(url)))


def _check_language(language: str | None) -> None:
    from fleet_server.api.schemas import LANGUAGES

    if language and language not in LANGUAGES:
        raise typer.BadParameter(_("language must be one of {languages}").format(languages=", ".join(LANGUAGES)))


@admin_app.command("set-language")
def set_language(username: str, language: str = typer.Argument(..., help="en, id, or center (the center's own)")) -> None:
    """The console's language for a user (audited as the CLI's change)."""
    import time

    from fleet_server.settings import Settings
    from fleet_server.storage import audit as audit_repo
    from fleet_server.storage import users as user_repo
    from fleet_server.storage.db import Database

    chosen = None if language == "center" else language
    _check_language(chosen)
    url = Settings().sqlalchemy_url
    db = Database(url)
    try:
        with db.session() as s:
            u = user_repo.by_name(s, username)
            if u is None:
                typer.echo(_("no user {username} in {where}").format(username=username, where=_where(url)), err=True)
                raise typer.Exit(1)
            if u.language != chosen:
                audit_repo.append(s, time.time(), "cli", "user_language", "user", username, u.language, chosen)
                u.language = chosen
    finally:
        db.dispose()
    typer.echo(_("user {username} now sees the console in {language}").format(
        username=username, language=chosen or _("the center's language")))


def _where(url: str) -> str:
    """A database URL without its password, to say where something was written."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# ---- the city's certificates (docs/deploy.md, Certificates) --------------------------------------
pki_app = typer.Typer(help="The city CA and the broker's TLS certificate.", no_args_is_help=True)
app.add_typer(pki_app, name="pki")
PKI_DIR = typer.Option(None, "--dir", help="where the CA and certificates live (default: <data_dir>/pki)")


def _pki_dir(directory: Path | None) -> Path:
    from fleet_server.settings import Settings

    return Path(directory) if directory else Settings().data_dir / "pki"


def _pki(fn, *args, **kw):
    from fleet_server.broker.pki import PkiError

    try:
        return fn(*args, **kw)
    except PkiError as e:
        typer.echo(_("refused: {why}").format(why=localized(e)), err=True)
        raise typer.Exit(1) from None


@pki_app.command("create-ca")
def pki_create_ca(directory: Path = PKI_DIR, name: str = typer.Option("Siaga 112 city CA", "--name"),
                  days: int = typer.Option(3650, "--days", help="validity; every device trusts it for this long"),
                  force: bool = typer.Option(False, "--force", help="replace an existing CA (re-provision every device)")) -> None:
    """Create the city CA (ca.pem to give devices, ca.key 0600 to sign the broker's certificate)."""
    from fleet_server.broker import pki

    d = _pki_dir(directory)
    cert = _pki(pki.create_ca, d, name=name, days=days, overwrite=force)
    typer.echo(_("CA {cert} (key {key}, mode 0600); provisioning gives devices {cert}").format(cert=cert, key=d / pki.CA_KEY))


@pki_app.command("import-ca")
def pki_import_ca(cert: Path = typer.Argument(..., help="the city's CA certificate (PEM)"),
                  key: Path = typer.Option(None, "--key", help="its key, to sign the broker's certificate here"),
                  directory: Path = PKI_DIR) -> None:
    """Use the city's own CA instead of creating one."""
    from fleet_server.broker import pki

    out = _pki(pki.import_ca, _pki_dir(directory), cert.read_bytes(), key.read_bytes() if key else None)
    typer.echo((_("CA {cert} imported with its key") if key else
                _("CA {cert} imported (certificate only: import the broker's certificate too)")).format(cert=out))


@pki_app.command("server-cert")
def pki_server_cert(host: list[str] = typer.Option(..., "--host", help="a name or IP address devices connect to "
                                                   "(repeat for each)"),
                    name: str = typer.Option("broker", "--name", help="file name: <name>.pem and <name>.key"),
                    days: int = typer.Option(825, "--days"), directory: Path = PKI_DIR) -> None:
    """A certificate for the broker's TLS listener, signed by the city CA."""
    from fleet_server.broker import pki

    sc = _pki(pki.server_cert, _pki_dir(directory), host, name=name, days=days)
    typer.echo(_("certificate {cert}, key {key} (mode 0600) for {hosts}").format(cert=sc.cert, key=sc.key, hosts=", ".join(host)))


@pki_app.command("import-server-cert")
def pki_import_server_cert(cert: Path = typer.Argument(..., help="the broker's certificate (PEM), issued by the CA"),
                           key: Path = typer.Argument(..., help="its private key (PEM)"),
                           name: str = typer.Option("broker", "--name"), directory: Path = PKI_DIR) -> None:
    """A broker certificate the city issued itself (checked against the imported CA)."""
    from fleet_server.broker import pki

    sc = _pki(pki.import_server_cert, _pki_dir(directory), cert.read_bytes(), key.read_bytes(), name=name)
    typer.echo(_("certificate {cert}, key {key} (mode 0600)").format(cert=sc.cert, key=sc.key))


# ---- simulated city --------------------------------------------------------------------------
sim_app = typer.Typer(help="Simulated devices and scenarios.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")


@app.command()
def demo(duration: float = typer.Option(None, help="stop after this many seconds (default: until Ctrl-C)"),
         speedup: float = typer.Option(None, help="scenario acceleration (default: the scenario's own)"),
         http_port: int = typer.Option(8112, help="console/API port (the CLI's default --server is 8112)"),
         mqtt_port: int = typer.Option(18830, help="broker port"),
         workdir: Path = typer.Option(None, help="where the demo keeps its state (default: run/demo)"),
         colleagues: bool = typer.Option(True, help="simulated colleagues work the older part of the queue")) -> None:
    """Broker, fleet server and the simulated city of Bandung; prints the console URL, logins and
    the commands that reach it. Ctrl-C or SIGTERM stops everything."""
    from simulators import demo as demo_mod

    raise typer.Exit(demo_mod.main(duration=duration, speedup=speedup, http_port=http_port, mqtt_port=mqtt_port,
                                   workdir=workdir, colleagues=colleagues))


@sim_app.command("usb-board")
def sim_usb_board(link: Path = typer.Option(None, help="also make this path a link to the board's port"),
                  workdir: Path = typer.Option(None, help="the board's flash and console log "
                                                          "(default: <data_dir>/usb-board)")) -> None:
    """A simulated MicroPython board on a USB serial port (a pty), to provision until Ctrl-C:
    the real MicroPython binary, its flash a directory. Prints the port to pass to
    `siaga device provision --port`."""
    import signal
    import threading

    from fleet_server.settings import Settings
    from simulators.usbdevice import UsbDevice

    where = Path(workdir) if workdir else Settings().data_dir / "usb-board"
    board = UsbDevice(where).start()
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        if link:
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(board.port)
        typer.echo((_("board on {port} (also {link}); flash in {flash}") if link else
                    _("board on {port}; flash in {flash}")).format(port=board.port, link=link, flash=board.flash))
        typer.echo("  siaga device provision --port {port} ...   ".format(port=link or board.port) + _("Ctrl-C unplugs it."),
                   err=True)
        typer.echo("  " + _("its keys, once provisioned: lines 'press sos' / 'release sos' to 127.0.0.1:{port} (e.g. nc)")
                   .format(port=board.control_port), err=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
        if link and link.is_symlink():
            link.unlink()
        for s, h in previous.items():
            signal.signal(s, h)
        typer.echo(_("board unplugged"), err=True)


@sim_app.command("run")
def sim_run(scenario: str = typer.Argument(..., help="scenario YAML, e.g. simulators/scenarios/bandung.yaml"),
            server: str = typer.Option("http://127.0.0.1:8112", help="fleet server base URL"),
            user: str = typer.Option("admin"),
            password: str = typer.Option(None, show_default=False, help="the user's password (asked for, hidden, "
                                                                         "when omitted)"),
            broker_host: str = typer.Option("127.0.0.1"), broker_port: int = typer.Option(1883),
            broker_dir: str = typer.Option(None, help="the project broker's directory, to add device accounts"),
            speedup: float = typer.Option(None), once: bool = typer.Option(True, help="play the timeline once")) -> None:
    """Run a scenario against any broker and server, with a live summary."""
    from simulators import simrun
    from simulators.city import CityLive

    if password is None:
        password = typer.prompt(_("Password"), hide_input=True)
    try:
        code = simrun.main(scenario, server, user, password, broker_host, broker_port, broker_dir, speedup, once)
    except CityLive as e:
        typer.echo(_("not started: {why}").format(why=localized(e)), err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


# ---- the database: schema, backups (docs/deploy.md) ------------------------------------------------
from fleet_server.ops.cli import backup, broker_app, db_app, restore  # noqa: E402

app.add_typer(db_app, name="db")
app.add_typer(broker_app, name="broker")

from fleet_server.broker.cluster_cli import cluster_app  # noqa: E402

app.add_typer(cluster_app, name="cluster")
app.command("backup")(backup)
app.command("restore")(restore)


# ---- technician provisioning ------------------------------------------------------------------
from fleet_server.provisioning.cli import device_app  # noqa: E402

app.add_typer(device_app, name="device")


# ---- signed firmware releases (docs/ota.md) ------------------------------------------------------
from fleet_server.releases.cli import firmware_app  # noqa: E402

app.add_typer(firmware_app, name="firmware")


if __name__ == "__main__":   # `python -m fleet_server.cli ...` is `siaga ...` without the console script
    app()
