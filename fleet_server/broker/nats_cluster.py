"""A clustered broker from an existing engine: three NATS servers (Debian `nats-server`) in one
cluster with JetStream, each with its MQTT 3.1.1 listener, and HAProxy in front of the MQTT
listeners so a device with one broker address reaches whichever node is alive (ADR
0009, docs/deploy.md "The clustered broker").

The same accounts as the project's Mosquitto (BrokerAccount: device, server, observer), the same
rule as its ACL (fleet_server.broker.mosquitto.ACL_TEMPLATE): a device publishes only under
siaga/v1/dev/<its id>/up/, reads only its own down/ and the server status; in NATS subjects
(`/` becomes `.`) those are per-user publish/subscribe permissions. Devices may connect over MQTT
only; the fleet server connects both as a NATS client (queue groups, JetStream) and over MQTT (its
retained birth and will, and downlinks at QoS 1 into the devices' persistent sessions).

NATS wants bcrypt password hashes (Mosquitto's are PBKDF2), so each account here carries a bcrypt
hash of its own; cost BCRYPT_COST keeps 50,000 accounts writable in seconds, the password itself
is a random 18-byte secret (fleet_server.broker.credentials.new_secret), not a human password.

Devices that have TLS reach the cluster through haproxy's TLS front (`tls`: the broker certificate
of `siaga pki`, as Mosquitto's TLS listener uses it); haproxy passes their bytes on to the nodes'
MQTT listeners on loopback.

Every file is 0600 in a 0700 directory; every process is started in its own session and stopped
(or killed) by its pid."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

from fleet_server.broker.mosquitto import SERVER_SESSIONS, BrokerAccount, TlsListener, free_port, session_user
from fleet_server.i18n import N_, Message
from fleet_server.secrets_files import private_dir, tighten, write_private

BCRYPT_COST = 4
ACCOUNT = "SIAGA"           # the NATS account every Siaga user lives in (JetStream enabled)
ALARM_STREAM = "SIAGA_ALARMS"
ALARM_SUBJECT = "siaga.v1.dev.*.up.alarm"
ALARM_CONSUMER = "alarm-workers"
WORK_QUEUE = "siaga-workers"   # the queue group the workers share the other uplinks in
NODES = 3


def bcrypt_hash(password: str) -> str:
    import bcrypt
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def subject(topic: str) -> str:
    """An MQTT topic as NATS names it (`/` -> `.`); Siaga topics hold no `.` nor spaces."""
    return topic.replace("/", ".").replace("+", "*").replace("#", ">")


def device_permissions(dev: str) -> dict:
    # ACL_TEMPLATE in NATS words: write own up/#, read own down/# and the server status.
    return {"publish": {"allow": [f"siaga.v1.dev.{dev}.up.>", f"owntracks.{dev}.>"]},
            # $MQTT.sub.<nuid>: where NATS 2.9 delivers a QoS 1 subscription's JetStream consumer
            "subscribe": {"allow": [f"siaga.v1.dev.{dev}.down.>", "siaga.v1.server.status", "$MQTT.sub.>"]}}


@dataclass
class Node:
    name: str
    client_port: int
    route_port: int
    mqtt_port: int
    http_port: int
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"


@dataclass
class _Account:
    username: str
    password_hash: str   # bcrypt
    role: str


@dataclass
class NatsCluster:
    """Three nats-server processes and one haproxy under `workdir`. `start()` writes the configs
    and launches; `reload()` re-reads the accounts on every node (SIGHUP: connected clients stay);
    `kill_node(i)` is a crash; `stop()` ends everything."""
    workdir: Path
    nodes: list[Node] = field(default_factory=list)
    mqtt_port: int = 0        # haproxy's MQTT front: the one address devices are given
    accounts: dict[str, _Account] = field(default_factory=dict)
    lb: subprocess.Popen | None = None
    max_connections: int = 65536
    tls: TlsListener | None = None   # haproxy's TLS front for devices (port 0: a free one)

    def __post_init__(self):
        self.workdir = Path(self.workdir)
        if self.tls is not None and not self.tls.port:
            self.tls = replace(self.tls, port=free_port())
        self.tls_pem = self.workdir / "haproxy-tls.pem"
        if not self.nodes:
            self.nodes = [Node(f"n{i + 1}", free_port(), free_port(), free_port(), free_port()) for i in range(NODES)]
        self.mqtt_port = self.mqtt_port or free_port()
        self.accounts_file = self.workdir / "accounts.conf"
        self.lb_conf = self.workdir / "haproxy.cfg"
        self.state_file = self.workdir / "cluster.json"

    @classmethod
    def on_ports(cls, workdir: Path, mqtt_port: int = 1883, client_port: int = 4222, route_port: int = 6222,
                 node_mqtt_port: int = 11883, http_port: int = 8222, tls: TlsListener | None = None) -> "NatsCluster":
        """A cluster on fixed ports (a deployment): node i on each base port + i."""
        nodes = [Node(f"n{i + 1}", client_port + i, route_port + i, node_mqtt_port + i, http_port + i) for i in range(NODES)]
        return cls(workdir, nodes=nodes, mqtt_port=mqtt_port, tls=tls)

    # ---- accounts (the same calls as Mosquitto's) -------------------------------------------
    def add_account(self, username: str, password: str, role: str = "device") -> None:
        self.accounts[username] = _Account(username, bcrypt_hash(password), role)

    def add_hashed(self, username: str, password_hash: str, role: str = "device") -> None:
        if not password_hash.startswith("$2"):
            raise ValueError(Message(N_("account {username}: NATS takes bcrypt hashes ($2a$/$2b$), not {prefix}"),
                                     username=username, prefix=repr(password_hash[:3])))
        self.accounts[username] = _Account(username, password_hash, role)

    def remove_account(self, username: str) -> None:
        """Drops the account. Not for a device that may have published retained messages (its birth):
        nats-server without the fix of nats-io/nats-server#7596 (Debian's 2.9.10) crashes on the reload
        that drops such a user (mqttCheckPubRetainedPerms); lock_account() it instead."""
        self.accounts.pop(username, None)

    def lock_account(self, username: str) -> None:
        """The account stays, with its permissions, under a password nobody has: the next reload
        refuses it and closes its connections, and no node crashes (remove_account)."""
        import secrets
        a = self.accounts.get(username)
        if a is not None:
            self.accounts[username] = _Account(username, bcrypt_hash(secrets.token_urlsafe(24)), a.role)

    def _users(self) -> list[dict]:
        users = []
        for a in self.accounts.values():
            if a.role == "server":
                logins = [session_user(a.username, s) for s in SERVER_SESSIONS]
                perms = {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
                kinds = ["STANDARD", "MQTT"]
            elif a.role == "observer":
                logins = [a.username]
                # reads everything, writes nothing (the MQTT layer's own subjects are implicit)
                perms = {"publish": {"deny": ["siaga.>", "owntracks.>"]}, "subscribe": {"allow": ["siaga.>", "owntracks.>", "$MQTT.sub.>"]}}
                kinds = ["STANDARD", "MQTT"]
            else:
                logins = [a.username]
                perms = device_permissions(a.username)
                kinds = ["MQTT"]
            for login in logins:
                users.append({"user": login, "password": a.password_hash, "permissions": perms,
                              "allowed_connection_types": kinds})
        return users

    def _write_accounts(self) -> None:
        # NATS config accepts JSON syntax; one file included by every node, so all nodes agree.
        conf = {"accounts": {ACCOUNT: {"jetstream": "enabled", "users": self._users()},
                             "SYS": {"users": [{"user": "sys", "password": bcrypt_hash(os.urandom(12).hex())}]}},
                "system_account": "SYS"}
        body = json.dumps(conf, indent=1)[1:-1]   # top-level keys, without the outer braces
        write_private(self.accounts_file, "# Generated by Siaga 112 (fleet_server/broker/nats_cluster.py)\n" + body + "\n")

    def _node_conf(self, node: Node) -> str:
        routes = ", ".join(f'"nats-route://127.0.0.1:{n.route_port}"' for n in self.nodes if n is not node)
        store = self.workdir / node.name / "js"
        return f"""\
# Generated by Siaga 112 (fleet_server/broker/nats_cluster.py); rewritten at every start.
server_name: {node.name}
listen: "127.0.0.1:{node.client_port}"
http: "127.0.0.1:{node.http_port}"
max_connections: {self.max_connections}
# A device message is at most protocols.messages.MAX_PAYLOAD; JetStream's own API needs more.
max_payload: 1048576
pid_file: "{self.workdir / node.name / 'nats.pid'}"
log_file: "{self.workdir / node.name / 'nats.log'}"
logtime: true
jetstream {{
  store_dir: "{store}"
  max_memory_store: 256MB
  max_file_store: 4GB
}}
cluster {{
  name: siaga
  listen: "127.0.0.1:{node.route_port}"
  routes: [{routes}]
}}
mqtt {{
  listen: "127.0.0.1:{node.mqtt_port}"
  # a QoS 1 message a device did not PUBACK comes again after this long
  ack_wait: "10s"
  max_ack_pending: 1000
  # sessions, retained messages and QoS 1 deliveries on every node: one node's loss keeps quorum
  stream_replicas: {min(3, len(self.nodes))}
  # every QoS 1 subscription is a JetStream consumer (the firmware makes two); devices use clean
  # sessions, so their consumers need not outlive a node: one replica, in memory, not a Raft group
  # each (replicated, 40 devices connecting at once timed out creating them)
  consumer_replicas: 1
  consumer_memory_storage: true
}}
include "../accounts.conf"
"""

    def _lb_conf(self) -> str:
        servers = "\n".join(f"  server {n.name} 127.0.0.1:{n.mqtt_port} check" for n in self.nodes)
        # haproxy holds two descriptors a connection (device side, node side) and refuses to start
        # when maxconn needs more than its limit allows.
        import resource
        maxconn = min(self.max_connections, (resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 200) // 2)
        tls = ""
        if self.tls is not None:
            # TLS ends here (on every interface unless tls.host names one, as Mosquitto's TLS
            # listener); the nodes' listeners are on loopback beside haproxy.
            tls = (f"frontend mqtt_tls\n  bind {self.tls.host or '*'}:{self.tls.port} ssl crt {self.tls_pem} "
                   "ssl-min-ver TLSv1.2\n"
                   "  default_backend nats_mqtt\n")
        return f"""\
# Generated by Siaga 112 (fleet_server/broker/nats_cluster.py): the devices' one broker address.
global
  maxconn {maxconn}
defaults
  mode tcp
  timeout connect 2s
  timeout client 10m
  timeout server 10m
  option redispatch
  retries 3
frontend mqtt
  bind 127.0.0.1:{self.mqtt_port}
  default_backend nats_mqtt
{tls}backend nats_mqtt
  balance leastconn
  # a dead node is out within a second; its devices' sessions are cut so they reconnect at once
  default-server inter 300ms fall 2 rise 2 on-marked-down shutdown-sessions
{servers}
"""

    def write(self) -> None:
        private_dir(self.workdir)
        for n in self.nodes:
            private_dir(self.workdir / n.name)
            write_private(self.workdir / n.name / "nats.conf", self._node_conf(n))
        self._write_accounts()
        if self.tls is not None:
            # haproxy reads the certificate and its key from one file
            write_private(self.tls_pem, self.tls.cert.read_bytes().rstrip(b"\n") + b"\n" + self.tls.key.read_bytes())
        write_private(self.lb_conf, self._lb_conf())
        self.write_state()

    def write_state(self) -> None:
        write_private(self.state_file, json.dumps({"mqtt_port": self.mqtt_port, "nodes": [
            {k: getattr(n, k) for k in ("name", "client_port", "route_port", "mqtt_port", "http_port")} for n in self.nodes],
            "tls": None if self.tls is None else {"port": self.tls.port, "host": self.tls.host,
                                                  "cert": str(self.tls.cert), "key": str(self.tls.key),
                                                  "ca": str(self.tls.ca) if self.tls.ca else None},
            "accounts": [[a.username, a.password_hash, a.role] for a in self.accounts.values()]}))

    @classmethod
    def attach(cls, workdir: Path) -> "NatsCluster":
        """The cluster `siaga cluster start` left in `workdir`: its ports, to query or stop it."""
        workdir = Path(workdir)
        st = json.loads((workdir / "cluster.json").read_text())
        t = st.get("tls")
        tls = None if not t else TlsListener(Path(t["cert"]), Path(t["key"]), t["port"], t.get("host", ""),
                                             Path(t["ca"]) if t.get("ca") else None)
        c = cls(workdir, nodes=[Node(**n) for n in st["nodes"]], mqtt_port=st["mqtt_port"], tls=tls)
        for user, pw_hash, role in st.get("accounts", []):
            c.accounts[user] = _Account(user, pw_hash, role)
        return c

    # ---- lifecycle --------------------------------------------------------------------------
    host = "127.0.0.1"

    @property
    def port(self) -> int:
        """The MQTT address devices and the server's MQTT sessions are given: haproxy's."""
        return self.mqtt_port

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def start(self, timeout: float = 30.0) -> "NatsCluster":
        self.write()
        for i in range(len(self.nodes)):
            self.start_node(i, wait=False)
        deadline = time.monotonic() + timeout
        try:
            for n in self.nodes:
                self._wait_listening(n, deadline)
            self.start_lb()
            self.wait_ready(max(1.0, deadline - time.monotonic()))
        except Exception:
            self.stop()
            raise
        return self

    def start_node(self, i: int, wait: bool = True, timeout: float = 15.0) -> None:
        exe = shutil.which("nats-server") or "/usr/bin/nats-server"
        n = self.nodes[i]
        log = self.workdir / n.name / "nats.log"
        if not log.exists():
            write_private(log, b"")
        tighten(log)
        # stderr to a file, not a pipe: the nodes outlive `siaga cluster start`
        with open(self.workdir / n.name / "stderr.log", "ab") as err:
            n.proc = subprocess.Popen([exe, "-c", str(self.workdir / n.name / "nats.conf")], stdout=subprocess.DEVNULL,
                                      stderr=err, start_new_session=True)
        if wait:
            self._wait_listening(n, time.monotonic() + timeout)

    def _wait_listening(self, n: Node, deadline: float) -> None:
        while time.monotonic() < deadline:
            if n.proc is not None and n.proc.poll() is not None:
                err = (self.workdir / n.name / "stderr.log").read_text(errors="replace")
                raise RuntimeError(Message(N_("nats-server {node} exited with {code}: {error} (log: {log})"),
                                           node=n.name, code=n.proc.returncode, error=err.strip()[-500:],
                                           log=self.workdir / n.name / "nats.log"))
            try:
                with socket.create_connection(("127.0.0.1", n.mqtt_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(Message(N_("nats-server {node} did not listen within the time given"), node=n.name))

    def start_lb(self) -> None:
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        with open(self.workdir / "haproxy.log", "ab") as err:
            self.lb = subprocess.Popen([exe, "-db", "-f", str(self.lb_conf)], stdout=subprocess.DEVNULL,
                                       stderr=err, start_new_session=True)
        write_private(self.workdir / "haproxy.pid", str(self.lb.pid))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.lb.poll() is not None:
                raise RuntimeError(Message(N_("haproxy exited: {error}"),
                                           error=(self.workdir / "haproxy.log").read_text(errors="replace")[-500:]))
            try:
                with socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(Message(N_("haproxy did not listen within 10 s")))

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every live node reports a JetStream meta leader and all its peers current."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                ok = True
                for n in self.nodes:
                    if n.proc is not None and n.proc.poll() is not None:
                        continue
                    jsz = self.monitor(n, "jsz")
                    meta = jsz.get("meta_cluster") or {}
                    if not meta.get("leader"):
                        ok = False
                        break
                if ok:
                    return
            except OSError as e:
                last = e
            time.sleep(0.2)
        raise RuntimeError(Message(N_("the JetStream cluster elected no leader within {seconds}s ({error})"),
                                   seconds=timeout, error=last))

    def monitor(self, node: Node, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/{path}", timeout=2) as r:
            return json.loads(r.read())

    def status(self) -> list[dict]:
        out = []
        for n in self.nodes:
            try:
                varz, jsz = self.monitor(n, "varz"), self.monitor(n, "jsz")
                out.append({"node": n.name, "up": True, "connections": varz.get("connections"),
                            "mqtt": f"127.0.0.1:{n.mqtt_port}", "nats": n.url,
                            "meta_leader": (jsz.get("meta_cluster") or {}).get("leader"),
                            "streams": jsz.get("streams"), "messages": jsz.get("messages")})
            except OSError:
                out.append({"node": n.name, "up": False, "mqtt": f"127.0.0.1:{n.mqtt_port}", "nats": n.url})
        return out

    def node_of_client(self, client_id: str) -> int | None:
        """Which node holds the MQTT connection of `client_id` (the monitor's /connz?mqtt_client=)."""
        for i, n in enumerate(self.nodes):
            if n.proc is not None and n.proc.poll() is not None:
                continue
            try:
                cz = self.monitor(n, f"connz?mqtt_client={client_id}")
            except OSError:
                continue
            if cz.get("num_connections"):
                return i
        return None

    def reload(self) -> None:
        """Rewrite the accounts (and the kept registry, cluster.json) and have every node re-read them; connected clients stay."""
        self._write_accounts()
        self.write_state()
        before = {n.name: self._reloads(n) for n in self.nodes}
        signalled = []
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is None:
                n.proc.send_signal(signal.SIGHUP)
                signalled.append(n)
            else:
                pid = self._pid(n)
                if pid:
                    os.kill(pid, signal.SIGHUP)
                    signalled.append(n)
        # A node re-reads its accounts some time after the signal: until it logs the reload, a device
        # just added is refused there ("not authorized"). Wait for each node's line, bounded.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(self._reloads(n) <= before[n.name] for n in signalled):
            time.sleep(0.05)

    def _reloads(self, n: Node) -> int:
        try:
            return (self.workdir / n.name / "nats.log").read_bytes().count(b"Reloaded server configuration")
        except OSError:
            return 0

    def _pid(self, n: Node) -> int | None:
        p = self.workdir / n.name / "nats.pid"
        try:
            return int(p.read_text().strip())
        except (OSError, ValueError):
            return None

    def kill_node(self, i: int) -> None:
        """SIGKILL one node: a crash."""
        n = self.nodes[i]
        if n.proc is not None and n.proc.poll() is None:
            n.proc.kill()
            n.proc.wait(5)

    def stop(self) -> None:
        procs = [n.proc for n in self.nodes] + [self.lb]
        for p in procs:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in procs:
            if p is None:
                continue
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def stop_detached(self) -> None:
        """Stop a cluster another process started (`siaga cluster stop`): by the pids it wrote."""
        for n in self.nodes:
            pid = self._pid(n)
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        lb_pid = self.workdir / "haproxy.pid"
        if lb_pid.exists():
            try:
                os.kill(int(lb_pid.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


__all__ = ["NatsCluster", "Node", "BrokerAccount", "subject", "device_permissions", "ALARM_STREAM",
           "ALARM_SUBJECT", "ALARM_CONSUMER", "WORK_QUEUE"]
