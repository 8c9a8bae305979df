"""`siaga cluster start|stop|status|account`: the clustered broker (fleet_server/broker/nats_cluster.py)
on this host, three nodes and haproxy, left running in the background; docs/deploy.md."""
from __future__ import annotations

from pathlib import Path

import typer

from fleet_server.i18n import _, localized

cluster_app = typer.Typer(help="The clustered broker: three NATS nodes with MQTT, haproxy in front.",
                          no_args_is_help=True)

DIR = typer.Option(None, "--dir", help="default: <data_dir>/cluster")


def _dir(directory: Path | None) -> Path:
    from fleet_server.settings import Settings
    return directory or Settings().data_dir / "cluster"


def _cluster(directory: Path | None):
    from fleet_server.broker.nats_cluster import NatsCluster
    d = _dir(directory)
    if not (d / "cluster.json").exists():
        typer.echo(_("no cluster in {dir}: `siaga cluster start` first").format(dir=d), err=True)
        raise typer.Exit(1)
    return NatsCluster.attach(d)


@cluster_app.command("start")
def start(directory: Path = DIR,
          mqtt_port: int = typer.Option(1883, help="haproxy's MQTT front: the devices' one broker address"),
          client_port: int = typer.Option(4222, help="node 1's NATS port (nodes 2, 3: +1, +2)"),
          route_port: int = typer.Option(6222, help="node 1's cluster route port"),
          node_mqtt_port: int = typer.Option(11883, help="node 1's own MQTT listener"),
          http_port: int = typer.Option(8222, help="node 1's monitoring port"),
          tls: bool | None = typer.Option(None, "--tls/--no-tls",
                                          help="haproxy's TLS front for devices (default: on when siaga pki "
                                               "made the broker certificate)"),
          tls_port: int = typer.Option(8883, help="haproxy's MQTT over TLS front"),
          tls_host: str = typer.Option("", help="the address it binds (default: every interface, as "
                                                "Mosquitto's TLS listener)"),
          pki_dir: Path = typer.Option(None, help="siaga pki's directory (default: <data_dir>/pki)")) -> None:
    """Write the configs (kept accounts, the server's account from the settings) and start the nodes
    and haproxy; they keep running after this command ends."""
    from fleet_server.broker.mosquitto import TlsListener
    from fleet_server.broker.nats_cluster import NatsCluster
    from fleet_server.broker.pki import CA_CERT
    from fleet_server.settings import Settings

    s = Settings()
    d = _dir(directory)
    pki = pki_dir or s.data_dir / "pki"
    cert, key = pki / "broker.pem", pki / "broker.key"
    have = cert.is_file() and key.is_file()
    if tls and not have:
        typer.echo(_("no broker certificate in {dir} (siaga pki create-ca; siaga pki server-cert --host NAME)").format(
            dir=pki), err=True)
        raise typer.Exit(1)
    listener = TlsListener(cert, key, tls_port, tls_host, pki / CA_CERT) if (have if tls is None else tls) else None
    kept = NatsCluster.attach(d).accounts if (d / "cluster.json").exists() else {}
    c = NatsCluster.on_ports(d, mqtt_port, client_port, route_port, node_mqtt_port, http_port, tls=listener)
    c.accounts.update(kept)
    if s.broker.password:
        c.add_account(s.broker.username, s.broker.password, role="server")
    try:
        c.start()
    except RuntimeError as e:
        typer.echo(_("not started: {why}").format(why=localized(e)), err=True)
        raise typer.Exit(1) from None
    typer.echo(_("cluster in {dir}: {n} accounts, devices on 127.0.0.1:{port} (haproxy)").format(
        dir=d, n=len(c.accounts), port=c.mqtt_port))
    if c.tls is not None:
        typer.echo(_("devices with TLS on {host}:{port} (certificate {cert}, CA {ca})").format(
            host=c.tls.host or "*", port=c.tls.port, cert=c.tls.cert, ca=c.tls.ca))
    else:
        typer.echo(_("no TLS front: devices connect in plain MQTT (siaga pki create-ca; siaga pki server-cert)"))
    typer.echo(_("server settings: {settings}").format(
        settings="SIAGA_MQTT_TRANSPORT=nats SIAGA_MQTT_PORT={port} SIAGA_MQTT_NATS_SERVERS={servers}".format(
            port=c.mqtt_port, servers=",".join(c.urls))))


@cluster_app.command("status")
def status(directory: Path = DIR) -> None:
    """Each node: up, connections, the JetStream meta leader, streams and messages."""
    c = _cluster(directory)
    down = 0
    for row in c.status():
        if not row["up"]:
            down += 1
            typer.echo("{node}: DOWN  (mqtt {mqtt}, nats {nats})".format(node=row["node"], mqtt=row["mqtt"], nats=row["nats"]))
        else:
            typer.echo("{node}: up  connections={connections} leader={leader} streams={streams} messages={messages}  "
                       "(mqtt {mqtt}, nats {nats})".format(
                node=row["node"], connections=row["connections"], leader=row["meta_leader"], streams=row["streams"],
                messages=row["messages"], mqtt=row["mqtt"], nats=row["nats"]))
    raise typer.Exit(0 if down == 0 else 1)


@cluster_app.command("account")
def account(name: str = typer.Argument(..., help="the device id (or account name)"),
            role: str = typer.Option("device", help="device, server or observer"),
            directory: Path = DIR,
            password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True)) -> None:
    """Add or replace an account; the running nodes re-read the accounts at once (SIGHUP)."""
    if role not in ("device", "server", "observer"):
        typer.echo(_("refused: role {role} is not device, server or observer").format(role=repr(role)), err=True)
        raise typer.Exit(2)
    c = _cluster(directory)
    c.add_account(name, password, role=role)
    c.reload()
    typer.echo(_("{name} ({role}) on the cluster").format(name=name, role=role))


@cluster_app.command("stop")
def stop(directory: Path = DIR) -> None:
    """Stop the nodes and haproxy a `siaga cluster start` left running."""
    c = _cluster(directory)
    c.stop_detached()
    typer.echo(_("stopped the cluster in {dir}").format(dir=c.workdir))
