"""A PostgreSQL cluster that survives its primary: Patroni (Debian's `patroni`) managing three
PostgreSQL nodes, etcd (Debian's `etcd-server`, one member beside each node) as the consensus
store, or Patroni's built-in Raft (pysyncobj) with dcs="raft"; synchronous replication
on (`synchronous_mode: true`: a commit returns only once a synchronous standby has flushed it,
and only that standby may be promoted). docs/deploy.md, "Database cluster", shows the topology.

The server reaches whichever node is primary through one multi-host libpq URL with
`target_session_attrs=read-write` (dsn()): libpq tries every node and keeps the one that accepts
writes. `siaga db cluster start|stop|status` drives this module; deploy/patroni/ holds the same
configuration as files for hosts run by systemd.

As root, Patroni and PostgreSQL run as the `postgres` user (initdb refuses root); the cluster's
directory is then owned by it. Passwords are generated once, kept 0600 in <dir>/secrets.json and
in each node's patroni.yml (0600), and never put on a command line or in a log."""
from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from fleet_server.i18n import N_, Message
from fleet_server.secrets_files import private_dir, write_private

SCOPE = "siaga"
APP_USER = "siaga"
APP_DB = "siaga"
# Timings (Patroni's dynamic configuration). loop_wait: how often each Patroni checks its node;
# a killed postmaster is seen within it. ttl: the leader key's lease; a dead Patroni (the whole
# node lost) is replaced after it. retry_timeout: how long DCS and PostgreSQL calls are retried
# before the primary demotes itself. Patroni wants loop_wait + 2 * retry_timeout <= ttl.
TIMINGS = {"ttl": 20, "loop_wait": 2, "retry_timeout": 5}


class ClusterError(Exception):
    """The cluster could not be configured, started or queried; the message says why."""


@dataclass(frozen=True)
class Node:
    name: str
    pg_port: int
    rest_port: int
    dcs_port: int
    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "patroni.yml"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def pid_file(self) -> Path:
        return self.dir / "patroni.pid"

    @property
    def log(self) -> Path:
        return self.dir / "patroni.log"


def pg_bin_dir() -> Path:
    """SIAGA_PG_BIN, else the newest /usr/lib/postgresql/<v>/bin (Debian's layout)."""
    where = os.environ.get("SIAGA_PG_BIN")
    if where and (Path(where) / "postgres").is_file():
        return Path(where)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if not found:
        raise ClusterError(Message(N_("PostgreSQL server not found: apt-get install postgresql")))
    return found[-1].parent


def patroni_bin() -> str:
    found = shutil.which("patroni")
    if not found:
        raise ClusterError(Message(N_("patroni not found: apt-get install patroni python3-pysyncobj")))
    return found


def etcd_bin() -> str:
    found = shutil.which("etcd")
    if not found:
        raise ClusterError(Message(N_("etcd not found: apt-get install etcd-server")))
    return found


DCS = ("etcd", "raft")   # docs/adr: etcd by default; Patroni 3.0 deprecated its built-in Raft


class PatroniCluster:
    """Three (or `size`) Patroni-managed PostgreSQL nodes on `host`, under `directory`.
    Ports: node i (0-based) listens on pg_port + i, rest_port + i, and for its consensus store
    (dcs) dcs_port + i: the client port of the etcd member beside it (its peer port is
    dcs_port + size + i), or, with dcs="raft", Patroni's built-in Raft."""

    def __init__(self, directory: Path, size: int = 3, host: str = "127.0.0.1", pg_port: int = 5440,
                 rest_port: int = 8010, dcs_port: int = 2230, run_as: str | None = None, dcs: str = "etcd"):
        if size < 2:
            raise ClusterError(Message(N_("a synchronous standby needs at least 2 nodes (3 for Raft to survive "
                                           "one loss)")))
        if dcs not in DCS:
            raise ClusterError(Message(N_("{dcs}: the consensus store is one of {stores}"), dcs=dcs,
                                      stores=", ".join(DCS)))
        self.dcs = dcs
        self.dir = Path(directory).resolve()
        self.host = host
        self.nodes = [Node(f"pg{i + 1}", pg_port + i, rest_port + i, dcs_port + i, self.dir / f"pg{i + 1}")
                      for i in range(size)]
        if run_as is None and os.geteuid() == 0:
            run_as = "postgres"
        self.run_as = run_as
        self._procs: dict[str, subprocess.Popen] = {}

    @classmethod
    def open(cls, directory: Path, **defaults) -> "PatroniCluster":
        """The cluster configured in `directory` (its cluster.json, written by write_config), or,
        when it was never configured, one with `defaults`."""
        layout = Path(directory) / "cluster.json"
        if layout.exists():
            defaults = json.loads(layout.read_text())
        return cls(directory, **defaults)

    # ---- configuration --------------------------------------------------------------------------
    @property
    def secrets_file(self) -> Path:
        return self.dir / "secrets.json"

    def _secrets(self) -> dict:
        if self.secrets_file.exists():
            return json.loads(self.secrets_file.read_text())
        s = {k: secrets.token_urlsafe(24) for k in ("superuser", "replication", "app")}
        write_private(self.secrets_file, json.dumps(s).encode())
        return s

    def node_config(self, node: Node, passwords: dict) -> dict:
        """The patroni.yml of one node (docs: https://patroni.readthedocs.io/en/latest/yaml_configuration.html)."""
        partners = [f"{self.host}:{n.dcs_port}" for n in self.nodes if n is not node]
        return {
            "scope": SCOPE,
            "name": node.name,
            "log": {"level": "INFO", "dir": str(node.dir), "file_num": 2, "file_size": 10_000_000},
            "restapi": {"listen": f"{self.host}:{node.rest_port}", "connect_address": f"{self.host}:{node.rest_port}"},
            **({"raft": {"data_dir": str(node.dir / "raft"), "self_addr": f"{self.host}:{node.dcs_port}",
                         "partner_addrs": partners}} if self.dcs == "raft" else
               {"etcd3": {"hosts": [f"{self.host}:{n.dcs_port}" for n in self.nodes]}}),
            "bootstrap": {
                "dcs": {
                    **TIMINGS,
                    "maximum_lag_on_failover": 1048576,
                    "synchronous_mode": True,
                    # A crashed primary is not restarted in place (Patroni's default waits up to
                    # 300 s for that): the synchronous standby, which has every commit, takes over.
                    "primary_start_timeout": 0,
                    "postgresql": {
                        "use_pg_rewind": True,   # the old primary rejoins as a standby
                        "use_slots": True,
                        "parameters": {"wal_level": "replica", "hot_standby": "on", "wal_log_hints": "on",
                                       "max_connections": 200, "max_wal_senders": 10,
                                       "max_replication_slots": 10, "wal_keep_size": "128MB",
                                       "synchronous_commit": "on", "password_encryption": "scram-sha-256",
                                       # when each transaction committed: the failover's first
                                       # commit on the new primary is measured with it
                                       "track_commit_timestamp": "on"},
                    },
                },
                "initdb": [{"encoding": "UTF8"}, "data-checksums", {"auth-host": "scram-sha-256"},
                           {"auth-local": "peer"}],
                "pg_hba": [
                    "local all all peer",
                    f"host replication replicator {self.host}/32 scram-sha-256",
                    f"host all all {self.host}/32 scram-sha-256",
                ],
            },
            "postgresql": {
                "listen": f"{self.host}:{node.pg_port}",
                "connect_address": f"{self.host}:{node.pg_port}",
                "data_dir": str(node.data),
                "bin_dir": str(pg_bin_dir()),
                "pgpass": str(node.dir / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": passwords["superuser"]},
                    "replication": {"username": "replicator", "password": passwords["replication"]},
                    "rewind": {"username": "postgres", "password": passwords["superuser"]},
                },
                "parameters": {"unix_socket_directories": str(node.dir)},
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        }

    def write_config(self) -> list[Path]:
        """Every node's directory and patroni.yml (0600, owned by the user PostgreSQL runs as)."""
        if self.run_as:
            self._reachable_by(self.run_as)
        private_dir(self.dir)
        passwords = self._secrets()
        n0 = self.nodes[0]
        (self.dir / "cluster.json").write_text(json.dumps({
            "size": len(self.nodes), "host": self.host, "pg_port": n0.pg_port, "rest_port": n0.rest_port,
            "dcs_port": n0.dcs_port, "dcs": self.dcs}) + "\n")
        out = []
        for node in self.nodes:
            private_dir(node.dir)
            (node.dir / "raft").mkdir(mode=0o700, exist_ok=True)
            text = "# Written by `siaga db cluster start`; see docs/deploy.md, \"Database cluster\".\n"
            text += yaml.safe_dump(self.node_config(node, passwords), sort_keys=False)
            if node.config.exists():
                node.config.unlink()
            write_private(node.config, text.encode())
            out.append(node.config)
        if self.run_as:
            pw = pwd.getpwnam(self.run_as)
            for root, dirs, files in os.walk(self.dir):
                for name in [root, *(os.path.join(root, f) for f in dirs + files)]:
                    os.chown(name, pw.pw_uid, pw.pw_gid)
        return out

    def _reachable_by(self, user: str) -> None:
        """Patroni runs as `user`: every directory above the cluster's must let it pass."""
        pw = pwd.getpwnam(user)
        for parent in self.dir.parents:
            st = parent.stat()
            if st.st_uid != pw.pw_uid and not st.st_mode & 0o001:
                raise ClusterError(Message(N_("{user} cannot reach {dir}: {parent} is mode {mode}; choose a "
                                              "directory {user} can pass through"), user=user, dir=self.dir,
                                           parent=parent, mode=f"{st.st_mode & 0o777:o}"))

    # ---- processes ------------------------------------------------------------------------------
    def _pid(self, node: Node) -> int | None:
        return _pid_in(node.pid_file)

    def _spawn(self, argv: list[str], node: Node, name: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PATRONI_", "PG", "ETCD"))}
        as_user = {}
        if self.run_as:
            pw = pwd.getpwnam(self.run_as)
            as_user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            env.update(HOME=pw.pw_dir, USER=self.run_as, LOGNAME=self.run_as)
        with open(node.dir / f"{name}.out", "ab") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=node.dir,
                                 env=env, start_new_session=True, **as_user)
        (node.dir / f"{name}.pid").write_text(f"{p.pid}\n")
        return p

    def _etcd_argv(self, node: Node) -> list[str]:
        size = len(self.nodes)
        peer = {n.name: f"http://{self.host}:{n.dcs_port + size}" for n in self.nodes}
        client = f"http://{self.host}:{node.dcs_port}"
        return [etcd_bin(), "--name", node.name, "--data-dir", str(node.dir / "etcd"),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer[node.name], "--initial-advertise-peer-urls", peer[node.name],
                "--initial-cluster", ",".join(f"{k}={v}" for k, v in peer.items()),
                "--initial-cluster-token", f"{SCOPE}-{self.nodes[0].pg_port}", "--initial-cluster-state", "new",
                "--heartbeat-interval", "100", "--election-timeout", "1000", "--log-level", "warn"]

    def start_node(self, node: Node) -> None:
        if self.dcs == "etcd" and not _pid_in(node.dir / "etcd.pid"):
            self._procs[f"{node.name}-etcd"] = self._spawn(self._etcd_argv(node), node, "etcd")
        if self._pid(node):
            return
        self._procs[node.name] = self._spawn([patroni_bin(), str(node.config)], node, "patroni")

    def start(self, timeout_s: float = 120) -> dict:
        """Configure, start every node, wait until there is a primary, a synchronous standby and
        every node streams; then the application's role and database exist. Returns status()."""
        self.write_config()
        for node in self.nodes:
            self.start_node(node)
        deadline = time.monotonic() + timeout_s
        while True:
            st = self.status()
            if st["primary"] and st["sync_standby"] and all(m["state"] in ("running", "streaming")
                                                              for m in st["members"]) \
                    and len(st["members"]) == len(self.nodes):
                break
            if time.monotonic() > deadline:
                raise ClusterError(Message(N_("cluster not ready within {seconds} s: {status}; logs in {dir}/pg*/"),
                                          seconds=f"{timeout_s:.0f}", status=st, dir=self.dir))
            for name, p in self._procs.items():
                if p.poll() is not None:
                    node, _, what = name.partition("-")
                    raise ClusterError(Message(N_("{program} {node} exited ({code}); see {log}"),
                                               program=what or "patroni", node=node, code=p.returncode,
                                               log=f"{self.dir / node}/{what or 'patroni'}.out"))
            time.sleep(0.5)
        self._ensure_app_database(deadline)
        return self.status()

    def _ensure_app_database(self, deadline: float) -> None:
        import psycopg
        from psycopg import sql

        pw = self._secrets()
        while True:
            try:
                with psycopg.connect(self.libpq_dsn("postgres", user="postgres", password=pw["superuser"]),
                                     autocommit=True) as c:
                    if not c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_USER,)).fetchone():
                        c.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                            sql.Identifier(APP_USER), sql.Literal(pw["app"])))
                    if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (APP_DB,)).fetchone():
                        c.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(APP_DB), sql.Identifier(APP_USER)))
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self, timeout_s: float = 60) -> None:
        """Every node at once: SIGTERM to each Patroni (it stops its PostgreSQL), SIGKILL to what
        is left at the deadline, and an orphaned postmaster stopped `immediate`. At once, because
        a primary stopped alone hands its lock to a standby (a needless failover), and standbys
        stopped alone leave the last Raft member without a quorum until retry_timeout."""
        self._stop_nodes(self.nodes, time.monotonic() + timeout_s)
        for node in self.nodes:   # the consensus store last: Patroni leaves through it
            pid = _pid_in(node.dir / "etcd.pid")
            if pid:
                _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for node in self.nodes:
            pid = _pid_in(node.dir / "etcd.pid")
            proc = self._procs.pop(f"{node.name}-etcd", None)
            while pid and _alive(pid, proc) and time.monotonic() < deadline:
                time.sleep(0.1)
            if pid and _alive(pid, proc):
                _signal(pid, signal.SIGKILL)   # a member that cannot hand over its leadership
            if proc is not None:
                proc.wait(10)
            (node.dir / "etcd.pid").unlink(missing_ok=True)

    def _stop_nodes(self, nodes: list[Node], deadline: float) -> None:
        pids = {n.name: self._pid(n) for n in nodes}
        for pid in pids.values():
            if pid:
                _signal(pid, signal.SIGTERM)
        for node in nodes:
            pid = pids[node.name]
            while pid and _alive(pid, self._procs.get(node.name)) and time.monotonic() < deadline:
                time.sleep(0.1)
            if pid and _alive(pid, self._procs.get(node.name)):
                _signal(pid, signal.SIGKILL)
            p = self._procs.pop(node.name, None)
            if p is not None:
                p.wait(10)
            node.pid_file.unlink(missing_ok=True)
            pm = self.postmaster_pid(node)
            if pm:
                _signal(pm, signal.SIGQUIT)   # immediate shutdown of an orphaned postmaster

    # ---- state ----------------------------------------------------------------------------------
    def _rest(self, node: Node, path: str, timeout: float = 2.0):
        try:
            with urllib.request.urlopen(f"http://{self.host}:{node.rest_port}{path}", timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, None
        except (OSError, ValueError):
            return None, None

    def status(self) -> dict:
        """Patroni's view (GET /cluster of the first node that answers): each member's role and
        state, who is primary and who the synchronous standby."""
        for node in self.nodes:
            code, body = self._rest(node, "/cluster")
            if code == 200 and body:
                members = [{"name": m["name"], "role": m["role"], "state": m["state"],
                            "port": m.get("port"), "timeline": m.get("timeline"), "lag": m.get("lag")}
                           for m in body.get("members", [])]
                return {"members": members,
                        "primary": next((m["name"] for m in members if m["role"] == "leader"), None),
                        "sync_standby": next((m["name"] for m in members if m["role"] == "sync_standby"), None)}
        return {"members": [], "primary": None, "sync_standby": None}

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def postmaster_pid(self, node: Node) -> int | None:
        """The running postmaster's pid (its postmaster.pid file's first line), or None."""
        try:
            pid = int((node.data / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    # ---- clients --------------------------------------------------------------------------------
    def _hosts(self) -> tuple[str, str]:
        return ",".join(self.host for _ in self.nodes), ",".join(str(n.pg_port) for n in self.nodes)

    def libpq_dsn(self, dbname: str = APP_DB, user: str = APP_USER, password: str | None = None) -> str:
        hosts, ports = self._hosts()
        password = self._secrets()["app"] if password is None else password
        return (f"host={hosts} port={ports} dbname={dbname} user={user} password={password} "
                "target_session_attrs=read-write connect_timeout=3")

    def url(self) -> str:
        """The server's SQLAlchemy URL: every node, the one that accepts writes chosen by libpq."""
        from urllib.parse import quote
        hosts = "&".join(f"host={self.host}:{n.pg_port}" for n in self.nodes)
        return (f"postgresql+psycopg://{APP_USER}:{quote(self._secrets()['app'], safe='')}@/{APP_DB}"
                f"?{hosts}&target_session_attrs=read-write&connect_timeout=3")


def _pid_in(pid_file: Path) -> int | None:
    """The pid in `pid_file` when that process still runs."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _alive(pid: int, proc: subprocess.Popen | None) -> bool:
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


__all__ = ["ClusterError", "Node", "PatroniCluster", "TIMINGS", "pg_bin_dir"]
