"""`siaga db upgrade`, `siaga backup`, `siaga restore` on the database the settings name
(SIAGA_DATABASE_URL, else SQLite in SIAGA_DATA_DIR)."""
from __future__ import annotations

from pathlib import Path

import typer

from fleet_server.i18n import _, localized

db_app = typer.Typer(help="The server's database.", no_args_is_help=True)
DATABASE = typer.Option(None, "--database", help="SQLAlchemy URL (default: the settings' database)",
                        show_default=False)


def _url(database: str | None) -> str:
    from fleet_server.settings import Settings

    return database or Settings().sqlalchemy_url


def _where(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _run(fn, *args):
    from sqlalchemy.exc import SQLAlchemyError

    from fleet_server.ops.database import OpsError

    try:
        return fn(*args)
    except (OpsError, SQLAlchemyError, OSError) as e:
        typer.echo(_("refused: {why}").format(why=localized(e)), err=True)
        raise typer.Exit(1) from None


@db_app.command("upgrade")
def db_upgrade(database: str = DATABASE) -> None:
    """Bring the database to the newest schema (Alembic head); says from which revision to which."""
    from fleet_server.ops.database import db_upgrade as run

    url = _url(database)
    typer.echo("{where}: {done}".format(where=_where(url), done=_run(run, url)))


def backup(file: Path = typer.Argument(..., help="the backup to write (0600); never overwritten"),
           database: str = DATABASE) -> None:
    """A consistent copy of the database while the server runs: SQLite's online backup, or
    pg_dump's custom format for PostgreSQL."""
    from fleet_server.ops.database import backup as run

    url = _url(database)
    revision = _run(run, url, file)
    typer.echo(_("backed up {where} (revision {revision}) to {file} ({size} bytes)").format(
        where=_where(url), revision=revision, file=file, size=file.stat().st_size))


def restore(file: Path = typer.Argument(..., help="a backup written by `siaga backup`"),
            database: str = DATABASE) -> None:
    """Put a backup into the database (stop the server first), then bring it to head."""
    from fleet_server.ops.database import restore as run

    url = _url(database)
    done = _run(run, file, url)
    typer.echo(_("restored {file} into {where}: {done}").format(file=file, where=_where(url), done=done))


cluster_app = typer.Typer(help="A PostgreSQL cluster that survives its primary: Patroni, 3 nodes, a "
                               "synchronous standby (docs/deploy.md, \"Database cluster\").", no_args_is_help=True)
db_app.add_typer(cluster_app, name="cluster")
CLUSTER_DIR = typer.Option(None, "--dir", help="the cluster's directory (default: <data_dir>/pg-cluster)",
                           show_default=False)


def _cluster(directory: Path | None, nodes: int = 3, host: str = "127.0.0.1", pg_port: int = 5440,
             rest_port: int = 8010, dcs_port: int = 2230, dcs: str = "etcd"):
    from fleet_server.ops.db_cluster import PatroniCluster
    from fleet_server.settings import Settings

    return PatroniCluster.open(directory or Settings().data_dir / "pg-cluster", size=nodes, host=host,
                               pg_port=pg_port, rest_port=rest_port, dcs_port=dcs_port, dcs=dcs)


def _show(st: dict) -> None:
    if not st["members"]:
        typer.echo(_("no node answers (the cluster is stopped)"))
        return
    for m in st["members"]:
        lag = "" if m["lag"] in (None, "") else " lag {lag}".format(lag=m["lag"])
        typer.echo("{name:6} {role:13} {state:10} port {port} timeline {timeline}{lag}".format(
            name=m["name"], role=m["role"], state=m["state"], port=m["port"], timeline=m["timeline"], lag=lag))


@cluster_app.command("start")
def cluster_start(directory: Path = CLUSTER_DIR,
                  nodes: int = typer.Option(3, help="PostgreSQL nodes (3: Raft survives the loss of one)"),
                  host: str = typer.Option("127.0.0.1", help="the address every node listens on"),
                  pg_port: int = typer.Option(5440, help="PostgreSQL of node 1; node i listens on pg_port + i - 1"),
                  rest_port: int = typer.Option(8010, help="Patroni's REST API of node 1 (and + i - 1)"),
                  dcs_port: int = typer.Option(2230, help="the consensus store of node 1 (and + i - 1); etcd's "
                                                         "peers on dcs_port + nodes + i - 1"),
                  dcs: str = typer.Option("etcd", help="consensus store: etcd (a member beside each node) or "
                                                       "raft (Patroni's built-in, deprecated upstream)"),
                  timeout: float = typer.Option(120, help="seconds to wait for a primary and a synchronous standby")) -> None:
    """Configure and start the nodes (Patroni in the background), wait for a primary and a
    synchronous standby, create the server's role and database; writes the server's database
    URL (all nodes, target_session_attrs=read-write) to <dir>/database.url (0600)."""
    from fleet_server.ops.db_cluster import ClusterError
    from fleet_server.secrets_files import write_private

    c = _cluster(directory, nodes, host, pg_port, rest_port, dcs_port, dcs)
    try:
        st = c.start(timeout)
    except ClusterError as e:
        typer.echo(_("refused: {why}").format(why=localized(e)), err=True)
        raise typer.Exit(1) from None
    url_file = c.dir / "database.url"
    write_private(url_file, c.url() + "\n")
    _show(st)
    typer.echo(_("database URL (with its password) in {file}: {setting}").format(
        file=url_file, setting='SIAGA_DATABASE_URL="$(cat {file})"'.format(file=url_file)))


@cluster_app.command("stop")
def cluster_stop(directory: Path = CLUSTER_DIR) -> None:
    """Stop every node (Patroni stops its PostgreSQL); the data stays for the next start."""
    c = _cluster(directory)
    c.stop()
    typer.echo(_("stopped {dir}").format(dir=c.dir))


@cluster_app.command("status")
def cluster_status(directory: Path = CLUSTER_DIR) -> None:
    """Every node's role (leader, sync_standby, replica), state and timeline, from Patroni; exits 1
    when no node has a primary."""
    st = _cluster(directory).status()
    _show(st)
    if not st["primary"]:
        raise typer.Exit(1)


broker_app = typer.Typer(help="The project's Mosquitto run as a service.", no_args_is_help=True)


@broker_app.command("config")
def broker_config(directory: Path = typer.Option(None, "--dir", help="default: <data_dir>/broker"),
                  pki: Path = typer.Option(None, "--pki", help="siaga pki's directory (default: <data_dir>/pki)"),
                  port: int = typer.Option(1883, help="plaintext listener, on loopback, for local services"),
                  tls_port: int = typer.Option(8883, help="TLS listener for devices, on every interface"),
                  no_tls: bool = typer.Option(False, "--no-tls", help="no device listener (a broker for one host)"),
                  workers: int = typer.Option(0, "--workers", min=0, max=64,
                                              help="also the accounts of workers w1..wN (<username>-w<i>)")) -> None:
    """Write the broker's config, password file and ACL (kept accounts, the server's account from
    the settings); deploy/systemd/siaga-broker.service runs it before each start."""
    from fleet_server.ops.broker_service import BrokerConfigError, write_config
    from fleet_server.settings import Settings

    s = Settings()
    try:
        b = write_config(directory or s.data_dir / "broker", pki or s.data_dir / "pki", s.broker.username,
                         s.broker.password, port=port, tls_port=tls_port, tls=not no_tls, workers=workers)
    except BrokerConfigError as e:
        typer.echo(_("refused: {why}").format(why=localized(e)), err=True)
        raise typer.Exit(1) from None
    typer.echo((_("{conf}: {n} accounts, plaintext 127.0.0.1:{port}") if no_tls else
                _("{conf}: {n} accounts, plaintext 127.0.0.1:{port}, TLS :{tls_port}")).format(
        conf=b.conf, n=len(b.accounts), port=port, tls_port=tls_port))
