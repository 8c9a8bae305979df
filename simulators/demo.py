"""`siaga demo`: the whole command center on one machine — our Mosquitto (per-device credentials and
ACL), the fleet server on SQLite, and the simulated city of Bandung — until Ctrl-C, SIGTERM (or
--duration). Everything it starts lives under run/demo/ and is stopped when it ends.

It also writes run/demo/siaga.toml (mode 0600): with SIAGA_CONFIG pointing at it, every `siaga`
command (create-user, device provision/list/status, sim usb-board) reaches this demo's database,
broker and server. The commands are printed when the demo is ready, exactly as they work."""
from __future__ import annotations

import asyncio
import errno
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from fleet_server.broker import Mosquitto, TlsListener, pki
from fleet_server.broker.mosquitto import free_port
from fleet_server.i18n import N_, Message, _, localized
from fleet_server.process import FleetServer
from fleet_server.settings import REPO_ROOT
from simulators.api_client import FleetApi
from simulators.city import CityRun, Colleagues, provision
from simulators.scenario import load

console = Console()
BANDUNG = REPO_ROOT / "simulators" / "scenarios" / "bandung.yaml"
CITY_AREAS = REPO_ROOT / "fleet_server" / "data" / "bandung"
DEFAULT_HTTP_PORT = 8112        # the CLI's default --server is http://127.0.0.1:8112
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
# The demo folds repeated presses of a button within a minute, on the server and on the buttons
# (production: 5 and 10 minutes). With the production windows a looping city of 20 buttons could
# raise a new incident only every few minutes: every press would join an open one.
DEMO_FOLD_S = 60
# The simulated colleagues acknowledge an alarm after 40 s, one in four only at 100 s. With the
# production ladder (supervisor at 15 s, center head at 60 s) every alarm in the queue's first group
# would read "escalated"; at a minute and a half, escalation shows now and then, as on a busy shift.
DEMO_ESCALATE_S, DEMO_ESCALATE_HEAD_S = 60, 90
# Station users, so the station view (7) can be tried: the Polres every police SOS is forwarded to
# on routing (the demo forwards Polri's emergencies itself), and a Polsek under it that the city's
# Alun-Alun police alarms fall in, which the Polres hands down to. Unaccepted, a forward climbs to
# the center's supervisor after SIAGA_FORWARD_ACCEPT_S (120 s), as on a real shift.
DEMO_STATIONS = (("polres", "polrestabes-bandung"), ("polsek", "polsek-regol"))
DEMO_FORWARD_AGENCIES = "polri"


def station_names(area_dir: Path = CITY_AREAS) -> dict[str, str]:
    """{station id: name} of the demo's station users, from the station areas the server routes by."""
    from fleet_server.domain.jurisdiction import Jurisdiction

    j = Jurisdiction.load(area_dir)
    return {sid: j.area(sid)["name"] for _user, sid in DEMO_STATIONS}


class PortTaken(RuntimeError):
    pass


def check_port(port: int, what: str, option: str) -> int:
    """The port is free for a listener, as the server binds it: with SO_REUSEADDR, so a socket of
    the previous demo still in TIME_WAIT does not count as taken (it would move the demo off its
    port for a minute after every restart). A port something really listens on is an error that
    says what to do: moving silently would leave the printed URL and the CLI's defaults apart."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            raise PortTaken(Message(N_("{what} port {port} on 127.0.0.1 is in use by another program (another "
                                       "demo still running?). Stop it, or pick another port with {option}."),
                                    what=what, port=port, option=option)) from None
    return port


DEMO_LANGUAGE = "id"   # the console's language at the demo center (settings console.language)


def _interrupt(signum, frame):
    # SIGTERM (kill, systemd, a CI runner) and SIGHUP (the terminal closed) stop the demo the way
    # Ctrl-C does: through the same finally blocks that stop the city, the server and the broker.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def status_table(run: CityRun, url: str, colleagues: Colleagues | None) -> Table:
    s = run.stats.summary(run.buttons)
    t = Table(title=_("Siaga 112 — simulated Bandung"), expand=False)
    t.add_column(_("measure"))
    t.add_column(_("value"), justify="right")
    t.add_row(_("console"), url)
    t.add_row(_("devices connected"), f"{s['devices_connected'] + sum(1 for x in run.trackers.values() if x.client.is_connected)}"
              f" / {len(run.buttons) + len(run.trackers)}")
    t.add_row(_("timeline pass"), str(run.stats.passes))
    t.add_row(_("alarms sent / acked / pending"), f"{s['alarms_sent']} / {s['alarms_acked']} / {s['alarms_pending']}")
    t.add_row(_("alarm → ack p50 / p99 (ms)"), f"{_ms(s['ack_ms_p50'])} / {_ms(s['ack_ms_p99'])}")
    t.add_row(_("pranks closed"), str(s["pranks_closed"]))
    t.add_row(_("broker outages survived"), str(s["broker_outages"]))
    if colleagues is not None:
        d = colleagues.done
        t.add_row(_("colleagues: acked / resolved / cancelled"), f"{d['acknowledged']} / {d['resolved']} / {d['cancelled']}")
    return t


def _ms(v) -> str:
    return "-" if v is None else f"{v:.0f}"


def _demo_tls(directory: Path) -> TlsListener:
    """A demo CA and broker certificate (siaga pki), so a board provisioned at the demo connects the
    way a city's does: over TLS, the broker checked against the CA. Loopback only, like the demo."""
    pki.create_ca(directory, name="Siaga 112 demo CA")
    sc = pki.server_cert(directory, ["127.0.0.1", "localhost"])
    return TlsListener(sc.cert, sc.key, port=free_port(), host="127.0.0.1", ca=sc.ca)


def write_cli_config(path: Path, *, data_dir: Path, database_url: str, broker: Mosquitto, observer_pw: str,
                     http_port: int) -> None:
    """The settings a `siaga` command needs to reach this demo (SIAGA_CONFIG=path). It holds the
    observer's broker password (read-only on the broker), so only its owner may read it."""
    text = "\n".join([
        "# Written by `siaga demo`: `export SIAGA_CONFIG=<this file>` points every siaga command at the demo.",
        f"data_dir = {json.dumps(str(data_dir))}",
        "[database]",
        f"url = {json.dumps(database_url)}",
        "[broker]",
        f"host = {json.dumps(broker.host)}",
        f"port = {broker.port}",
        "# The observer account watches devices come online (it may read, never write).",
        'username = "observer"',
        f"password = {json.dumps(observer_pw)}",
        "[http]",
        'host = "127.0.0.1"',
        f"port = {http_port}",
        "",
    ])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _shown(path: Path) -> str:
    """A path as the user should type it: relative to where they are, when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def siaga_command(argv0: str | None = None) -> str:
    """How to run `siaga` here, the way this demo was started: `python -m fleet_server.cli` runs
    the code below the current directory, which the venv's console script may not (another
    checkout installed it), so that is what gets printed; otherwise the name if it is on PATH
    (and is ours), else this venv's script."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    if Path(argv0).parts[-2:] == ("fleet_server", "cli.py"):
        return f"{_shown(Path(sys.executable))} -m fleet_server.cli"
    ours = Path(sys.executable).parent / "siaga"
    found = shutil.which("siaga")
    if found and ours.exists() and Path(found).resolve() == ours.resolve():
        return "siaga"
    return _shown(ours) if ours.exists() else f"{_shown(Path(sys.executable))} -m fleet_server.cli"


def cli_commands(workdir: Path, siaga: str | None = None) -> list[str]:
    """The commands that reach this demo, as printed (the demo test runs them as they are)."""
    siaga = siaga or siaga_command()
    link = _shown(workdir / "ttyUSB0")
    return [
        f"export SIAGA_CONFIG={shlex.quote(_shown(workdir / 'siaga.toml'))}",
        f"{siaga} admin create-user rina --role dispatcher",
        f"{siaga} sim usb-board --link {shlex.quote(link)}",
        f"{siaga} device provision --port {shlex.quote(link)} --kind button --board sim "
        f"--site 'Taman Lansia' --lat -6.9045 --lon 107.6230 --user technician",
    ]


def ready_text(url: str, base_url: str, admin_pw: str, tech_pw: str, broker: Mosquitto, workdir: Path,
               stations: list[tuple[str, str, str]] = ()) -> tuple[Panel, str]:
    """The panel, and the commands as plain lines: never wrapped, so they copy as they are.
    stations: (user, password, station name) of the station users."""
    cmds = cli_commands(workdir)
    panel = Panel.fit(
        "[bold]" + _("Console:") + f"[/bold] {url}\n"
        "[bold]" + _("Login:") + f"[/bold] admin / {admin_pw}   (technician / {tech_pw})\n"
        + "".join("[bold]" + _("Station view:") + f"[/bold] {user} / {pw} ({name})\n" for user, pw, name in stations)
        + "[bold]" + _("Broker:") + f"[/bold] {broker.host}:{broker.port} "
        + _("(the observer account's password is in {file})").format(file=_shown(workdir / "siaga.toml")) + "\n"
        f"API: {base_url}/openapi.json   " + _("State and logs: {dir}").format(dir=_shown(workdir)) + "\n"
        + _("Ctrl-C stops everything."),
        title=_("Siaga 112 demo is running"))
    text = "\n".join([
        _("Commands that reach this demo, in another terminal from {cwd}:").format(cwd=Path.cwd()),
        f"  {cmds[0]}",
        "  # " + _("a console user (asks for its password):"),
        f"  {cmds[1]}",
        "  # " + _("a simulated board on a USB port (keeps running until Ctrl-C):"),
        f"  {cmds[2]}",
        "  # " + _("in a third terminal, after the same export: provision it (asks for the technician's password)"),
        f"  {cmds[3]}",
        ""])
    return panel, text


async def _city(run: CityRun, url: str, duration: float | None, loop: bool, colleagues: Colleagues | None) -> dict:
    await run.start()
    shift = [asyncio.create_task(colleagues.run())] if colleagues else []
    t_end = time.monotonic() + duration if duration else None
    summary: dict = {}
    try:
        with Live(status_table(run, url, colleagues), console=console, refresh_per_second=2, transient=False) as live:
            tick = lambda r: live.update(status_table(r, url, colleagues))  # noqa: E731
            while True:
                left = None if t_end is None else t_end - time.monotonic()
                if left is not None and left <= 0:
                    break
                play = run.play(on_tick=tick, settle_s=10)
                summary = await (asyncio.wait_for(play, timeout=left) if left else play)
                if not loop:
                    break
    finally:
        for t in shift:
            t.cancel()
    return summary


def main(duration: float | None = None, speedup: float | None = None, scenario: Path = BANDUNG,
         workdir: Path | None = None, http_port: int = DEFAULT_HTTP_PORT, mqtt_port: int = 18830,
         loop: bool = True, colleagues: bool = True) -> int:
    workdir = Path(workdir or (REPO_ROOT / "run" / "demo")).resolve()
    try:
        check_port(http_port, Message(N_("The console/API")), "--http-port")
        check_port(mqtt_port, Message(N_("The broker")), "--mqtt-port")
    except PortTaken as e:
        console.print("[bold red]" + _("Cannot start the demo:") + f"[/] {localized(e)}")
        return 2
    previous = {s: signal.signal(s, _interrupt) for s in STOP_SIGNALS}
    # The banner promises Ctrl-C, however the demo was started: a shell without job control (a
    # script, `make demo &`, a CI runner) hands a background job SIGINT ignored, and Python keeps
    # an inherited SIG_IGN. With the default handler asyncio.run turns Ctrl-C into a clean stop.
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    server: FleetServer | None = None
    broker: Mosquitto | None = None
    api = None
    try:
        if workdir.exists():
            shutil.rmtree(workdir)  # a demo starts from a clean city every time
        workdir.mkdir(parents=True, mode=0o700)   # passwords, keys, the database and logs live here
        os.chmod(workdir, 0o700)
        admin_pw, tech_pw = secrets.token_urlsafe(9), secrets.token_urlsafe(9)
        server_pw, observer_pw = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
        broker = Mosquitto(workdir / "broker", port=mqtt_port, tls=_demo_tls(workdir / "pki"))
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as pr:
            t = pr.add_task(_("Loading the Bandung scenario"), total=4)
            sc = load(scenario)
            pr.update(t, advance=1, description=_("Starting Mosquitto on 127.0.0.1:{port}").format(port=broker.port))
            broker.add_account("fleet-server", server_pw, role="server")
            broker.add_account("observer", observer_pw, role="observer")
            broker.start()
            pr.update(t, advance=1, description=_("Starting the fleet server (SQLite)"))
            server = FleetServer(workdir / "server", broker.host, broker.port, mqtt_password=server_pw,
                                 admin=("admin", admin_pw), port=http_port,
                                 env={"SIAGA_JURISDICTION_FILE": str(CITY_AREAS), "SIAGA_LOG_JSON": "true",
                                      # The demo center speaks Bahasa Indonesia (a user may switch).
                                      "SIAGA_CONSOLE__LANGUAGE": DEMO_LANGUAGE,
                                      "SIAGA_INCIDENTS__FORWARD_AUTO_AGENCIES": DEMO_FORWARD_AGENCIES,
                                      "SIAGA_INCIDENTS__FOLD_WINDOW_S": str(DEMO_FOLD_S),
                                      "SIAGA_INCIDENTS__ESCALATE_AFTER_S": str(DEMO_ESCALATE_S),
                                      "SIAGA_INCIDENTS__ESCALATE_HEAD_AFTER_S": str(DEMO_ESCALATE_HEAD_S)}).start(60)
            write_cli_config(workdir / "siaga.toml", data_dir=workdir, database_url=server.database_url, broker=broker,
                             observer_pw=observer_pw, http_port=server.port)
            pr.update(t, advance=1, description=_("Registering {buttons} buttons and {units} units").format(
                buttons=len(sc.buttons), units=len(sc.units)))
            api = FleetApi(server.base_url, "admin", admin_pw)
            api.create_user("technician", tech_pw, "technician")
            names = station_names()
            stations = []
            for user, sid in DEMO_STATIONS:
                pw = secrets.token_urlsafe(9)
                api.create_user(user, pw, "station", station_id=sid)
                stations.append((user, pw, names[sid]))
            shift = None
            if colleagues:
                colleague_pw = secrets.token_urlsafe(18)
                api.create_user("colleague", colleague_pw, "dispatcher")
                shift = Colleagues(FleetApi(server.base_url, "colleague", colleague_pw))
            creds = provision(sc, api, broker)
            pr.update(t, advance=1, description=_("Ready"))
        url = f"{server.base_url}/console/"
        panel, commands = ready_text(url, server.base_url, admin_pw, tech_pw, broker, workdir, stations)
        console.print(panel)
        console.print(commands, soft_wrap=True, highlight=False, markup=False)
        run = CityRun(sc, broker.host, broker.port, creds, api=api, broker=broker, speedup=speedup, heartbeat_s=30,
                      refold_s=DEMO_FOLD_S, button_active_s=DEMO_FOLD_S)
        try:
            asyncio.run(_run_and_stop(run, url, duration, loop, shift))
        except asyncio.TimeoutError:
            pass
        except asyncio.CancelledError:   # SIGTERM/SIGHUP while the city ran
            console.print(_("Stopping…"))
        finally:
            for s in STOP_SIGNALS:       # the loop put back the defaults when it closed
                signal.signal(s, _interrupt)
        return 0
    except KeyboardInterrupt:
        console.print(_("Stopping…"))
        return 0
    finally:
        # A second signal (or Ctrl-C) while stopping must not cut the stopping short.
        for s in (*STOP_SIGNALS, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        try:
            if api:
                api.close()
            if server:
                server.stop()
            if broker:
                broker.stop()
            console.print(_("Demo stopped: broker and server are down."))
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


async def _run_and_stop(run: CityRun, url, duration, loop, shift) -> None:
    me = asyncio.current_task()
    for s in STOP_SIGNALS:  # inside the loop a signal cancels the city; its finally stops the devices
        asyncio.get_running_loop().add_signal_handler(s, me.cancel)
    try:
        await _city(run, url, duration, loop, shift)
    finally:
        await run.stop()
        if shift is not None:
            shift.api.close()
