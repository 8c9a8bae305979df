"""The clustered broker for a test module: three NATS nodes and haproxy on loopback
(fleet_server/broker/nats_cluster.py), its TLS front on a certificate of its own CA, with the
server's and the observer's accounts."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

from fleet_server.broker.nats_cluster import NatsCluster
from tests.conftest import OBSERVER_PASS, OBSERVER_USER, SERVER_PASS, SERVER_USER, broker_tls


@contextmanager
def running_cluster(tmp_path_factory):
    c = NatsCluster(tmp_path_factory.mktemp("nats-cluster"),
                    tls=replace(broker_tls(tmp_path_factory.mktemp("pki")), host="127.0.0.1"))
    c.add_account(SERVER_USER, SERVER_PASS, role="server")
    c.add_account(OBSERVER_USER, OBSERVER_PASS, role="observer")
    c.start()
    try:
        yield c
    finally:
        c.stop()
