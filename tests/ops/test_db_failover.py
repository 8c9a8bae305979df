"""PostgreSQL that survives its primary: Patroni's three nodes (etcd) started by `siaga db cluster`, the
fleet server on their multi-host URL, and the primary's postmaster killed (SIGKILL) in a burst of
alarms from simulated buttons. The storm (1,000+ alarms) is `python -m simulators.bench.db_failover`."""
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text

from fleet_server.domain.repositories import StoreUnavailable
from fleet_server.ops.db_cluster import PatroniCluster
from fleet_server.storage.db import Database
from fleet_server.storage.repositories import SqlIncidentStore
from simulators.bench.db_failover import Config, free_block, run
from tests.support.paths import REPO


def _siaga(*args, timeout=180):
    return subprocess.run([sys.executable, "-c", "from fleet_server.cli import app; app()", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cluster_dir():
    """Under /tmp, not pytest's private tmp_path: as root, Patroni runs as the postgres user."""
    d = Path(tempfile.mkdtemp(prefix="siaga-patroni-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_given_a_burst_of_alarms_when_the_primary_is_killed_then_the_sync_standby_serves_and_none_is_lost(
        cluster_dir, tmp_path):
    taken: set[int] = set()
    pg, rest, dcs = free_block(3, taken), free_block(3, taken), free_block(6, taken)   # etcd: client + peer
    where = ["--dir", str(cluster_dir / "pg")]
    cluster = PatroniCluster(cluster_dir / "pg", pg_port=pg, rest_port=rest, dcs_port=dcs)
    try:
        started = _siaga("db", "cluster", "start", *where, "--pg-port", str(pg), "--rest-port", str(rest),
                         "--dcs-port", str(dcs))
        assert started.returncode == 0, started.stdout + started.stderr
        assert "leader" in started.stdout and "sync_standby" in started.stdout
        url_file = cluster_dir / "pg" / "database.url"
        assert stat.S_IMODE(url_file.stat().st_mode) == 0o600
        assert url_file.read_text().strip() == cluster.url()
        assert cluster.url().split("@")[0].split(":")[-1] not in started.stdout   # the password is not printed

        r = run(Config(buttons=10, alarms=80, rate_per_s=40, kill_at=0.4), tmp_path / "run", cluster=cluster)

        assert r["in_flight_at_kill"] > 0, "the kill must hit alarms not yet acked"
        assert r["pressed"] == 80 and r["acked"] == 80 and r["pending_on_devices"] == 0, r
        assert r["exactly_once"] and r["stored"] == 80 and r["missing"] == 0, r
        assert r["incidents"] == r["incidents_expected"] == 10
        assert r["promoted_the_sync_standby"] and r["written_on"] == r["promoted"] != r["killed"], r
        assert r["server_survived"], r["server_log_tail"]
        assert r["failover_s"] is not None and r["failover_s"] <= 30.0, r
        assert r["ack_ms_during_fault"]["n"] > 0 and r["ack_ms_during_fault"]["max"] <= 15_000, r

        status = _siaga("db", "cluster", "status", *where, timeout=30)
        assert status.returncode == 0 and f"{r['promoted']} " in status.stdout and "leader" in status.stdout
    finally:
        pids = [int(f.read_text()) for f in (cluster_dir / "pg").glob("pg*/*.pid")]
        stopped = _siaga("db", "cluster", "stop", *where, timeout=120)
        cluster.stop()
    assert stopped.returncode == 0, stopped.stderr
    assert len(pids) == 6 and not [p for p in pids if Path(f"/proc/{p}").exists()], "a Patroni or etcd outlived stop"
    assert _siaga("db", "cluster", "status", *where, timeout=30).returncode == 1   # no node answers


def test_given_no_database_reachable_when_a_transaction_runs_then_the_domain_sees_store_unavailable(tmp_path):
    taken: set[int] = set()
    port = free_block(1, taken)   # nothing listens there
    db = Database(f"postgresql+psycopg://siaga:x@/siaga?host=127.0.0.1:{port}&target_session_attrs=read-write"
                  "&connect_timeout=2", migrate=False)
    try:
        with pytest.raises(StoreUnavailable, match="database unavailable"):
            with SqlIncidentStore(db).transaction() as tx:
                tx.devices.get("btn-1")
    finally:
        db.dispose()


def test_given_a_broken_statement_on_sqlite_when_it_fails_then_it_is_not_mistaken_for_a_failover(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
    try:
        with pytest.raises(Exception) as e:
            with SqlIncidentStore(db).transaction() as tx:
                tx.session.execute(text("SELECT * FROM no_such_table"))
        assert not isinstance(e.value, StoreUnavailable)
    finally:
        db.dispose()


def test_given_the_deploy_files_when_patroni_validates_them_then_they_pass_and_match_what_the_cli_runs(tmp_path):
    """deploy/patroni/patroni.yml is what a three-host center installs; its cluster-wide settings
    (synchronous mode, timings, no restart of a crashed primary) are the ones the tests measure."""
    import yaml

    deploy = REPO / "deploy" / "patroni" / "patroni.yml"
    taken: set[int] = set()
    rest, pg = free_block(1, taken), free_block(1, taken)
    # Patroni's validator checks that the listen ports are free here; the hosts' addresses stay.
    local = deploy.read_text().replace("listen: 10.20.0.11:8008", f"listen: 127.0.0.1:{rest}") \
                              .replace("listen: 10.20.0.11:5432", f"listen: 127.0.0.1:{pg}")
    (tmp_path / "patroni.yml").write_text(local)
    p = subprocess.run(["patroni", "--validate-config", str(tmp_path / "patroni.yml")], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr

    ours = PatroniCluster(tmp_path / "c")
    generated = ours.node_config(ours.nodes[0], {"superuser": "a", "replication": "b", "app": "c"})
    shipped = yaml.safe_load(deploy.read_text())
    assert shipped["bootstrap"]["dcs"] == generated["bootstrap"]["dcs"]
    assert shipped["bootstrap"]["dcs"]["synchronous_mode"] is True
    assert shipped["bootstrap"]["initdb"] == generated["bootstrap"]["initdb"]
    assert "password" not in deploy.read_text().split("authentication:")[1].split("parameters:")[0]
    env = (REPO / "deploy" / "patroni" / "patroni_env.conf").read_text()
    assert all(line.endswith("=") for line in env.splitlines() if line and not line.startswith("#"))


def test_given_the_cluster_url_when_a_backup_runs_then_pg_dump_is_pointed_at_every_node_and_the_writable_one():
    from fleet_server.ops.database import _pg_args

    url = ("postgresql+psycopg://siaga:s3cret@/siaga?host=127.0.0.1:5440&host=127.0.0.1:5441&host=127.0.0.1:5442"
           "&target_session_attrs=read-write&connect_timeout=3")
    args, env = _pg_args(url)
    assert args[0] == ("--dbname=dbname=siaga host=127.0.0.1,127.0.0.1,127.0.0.1 port=5440,5441,5442 "
                       "target_session_attrs=read-write connect_timeout=3")
    assert "--username=siaga" in args and env["PGPASSWORD"] == "s3cret"
    assert not any("s3cret" in a for a in args)   # the password never on a command line
