"""/metrics on prometheus-client, over real HTTP from the whole server on a real broker: every
series the rules and the docs name is there and moves with the work (an alarm acked, incident
clocks stopped, HTTP requests by route template, devices online by kind, ingest depth and lag,
SMS counted by the sink); the metrics token, when set, is required; and no label carries a
device id, a user name or a phone number."""
import re
import shutil
import subprocess
import time

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from fleet_server.api.monitoring import sms_sink_counting
from fleet_server.metrics import Metrics
from protocols import codec_json, topics
from protocols.rejection import Rejection
from tests.support.server import FleetServer
from tests.web.conftest import start_web_server, wait_for

# Every series deploy/prometheus/siaga-alerts.yml, docs/deploy.md and the benchmarks read.
SERIES = ["siaga_ingest_messages_total", "siaga_ingest_rejected_total", "siaga_alarms_total",
          "siaga_acks_published_total", "siaga_feedback_published_total", "siaga_broker_disconnects_total",
          "siaga_broker_link_up", "siaga_ingest_queue", "siaga_ingest_lag_seconds", "siaga_ingest_wait_seconds",
          "siaga_alarm_ack_seconds", "siaga_incident_clock_seconds", "siaga_incidents_open",
          "siaga_incidents_past_promise", "siaga_response_promise_seconds", "siaga_devices",
          "siaga_http_requests_total", "siaga_http_request_duration_seconds", "siaga_login_refused_total",
          "siaga_adapter_reports_total", "siaga_dispatch_event_backlog"]


def scrape(srv, **kw) -> dict:
    """{(name, frozenset(labels)): value} of one scrape, parsed by prometheus-client's own parser."""
    text = httpx.get(srv.base_url + "/metrics", timeout=10, **kw).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def declared(srv) -> set[str]:
    text = httpx.get(srv.base_url + "/metrics", timeout=10).text
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_given_the_whole_server_when_an_alarm_and_an_incident_go_through_then_the_series_move(broker, tmp_path):
    srv = FleetServer(tmp_path / "srv", broker).start()
    dev = "btn-metrics-1"
    client = None
    try:
        assert set(SERIES) - declared(srv) == set(), "series missing from /metrics"
        assert srv.api("POST", "/devices", json={"id": dev, "kind": "button", "category": "medical"}).status_code == 201
        broker.add_account(dev, "pw-metrics")
        broker.reload()
        before = scrape(srv)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=dev)
        client.username_pw_set(dev, "pw-metrics")
        client.connect(broker.host, broker.port, 30)
        client.loop_start()
        client.publish(topics.up(dev, "status"), codec_json.encode(
            {"v": 1, "t": "status", "dev": dev, "boot": 1, "seq": 0, "state": "online", "kind": "button",
             "fw": "1.0.0"}), qos=1).wait_for_publish(5)
        client.publish(topics.up(dev, "alarm"), codec_json.encode(
            {"v": 1, "t": "alarm", "dev": dev, "boot": 1, "seq": 1, "ts": int(time.time()), "cat": "medical",
             "trig": "button", "presses": 1, "lat": None, "lon": None, "src": "none", "acc": None, "age": None}),
            qos=1).wait_for_publish(5)
        assert wait_for(lambda: value(scrape(srv), "siaga_alarm_ack_seconds_count") == 1, timeout=15)
        inc = srv.api("GET", "/incidents").json()[0]["id"]
        for state in ("acknowledged", "dispatched", "onscene"):
            assert srv.api("POST", f"/incidents/{inc}/transition", json={"to_state": state}).status_code == 200
        after = scrape(srv)
        assert value(after, "siaga_ingest_messages_total", type="alarm") == 1
        assert value(after, "siaga_alarms_total", result="created") == 1
        assert value(after, "siaga_acks_published_total") == value(before, "siaga_acks_published_total") + 1
        assert value(after, "siaga_ingest_wait_seconds_count") >= 2
        assert value(after, "siaga_ingest_lag_seconds") < 60 and value(after, "siaga_broker_link_up") == 1
        assert value(after, "siaga_devices", kind="button", status="online") == 1
        for clock in ("to_acknowledge", "to_dispatch", "to_onscene"):
            assert value(after, "siaga_incident_clock_seconds_count", clock=clock, type="emergency") == 1, clock
            # received moments ago, well inside the 5-minute promise
            assert value(after, "siaga_incident_clock_seconds_bucket", clock=clock, type="emergency", le="300.0") == 1
        assert value(after, "siaga_incidents_open", type="emergency", state="onscene") == 1
        assert value(after, "siaga_incidents_past_promise") == 0
        assert value(after, "siaga_response_promise_seconds") == 300
        route = "/api/v1/incidents/{incident_id}/transition"
        assert value(after, "siaga_http_requests_total", method="POST", route=route, status="200") == 3
        assert value(after, "siaga_http_request_duration_seconds_count", method="POST", route=route) == 3
        httpx.get(srv.base_url + "/no/such/page", timeout=10)
        assert value(scrape(srv), "siaga_http_requests_total", method="GET", route="unmatched", status="404") == 1
        text = httpx.get(srv.base_url + "/metrics", timeout=10).text
        assert dev not in text and "admin" not in text and f"/incidents/{inc}" not in text, "no ids or names in labels"
        # Prometheus' own linter on the exposition (names, units, counters ending in _total).
        lint = subprocess.run([shutil.which("promtool") or "promtool", "check", "metrics"], input=text,
                              capture_output=True, text=True, timeout=60)
        assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr
    finally:
        if client:
            client.loop_stop()
            client.disconnect()
        srv.stop()


def test_given_a_metrics_token_then_metrics_need_it_and_it_is_never_in_the_answer(tmp_path):
    token = "metrics-token-for-the-city-prometheus"
    srv = start_web_server(tmp_path / "srv", env={"SIAGA_HTTP__METRICS_TOKEN": token})
    try:
        r = httpx.get(srv.base_url + "/metrics", timeout=10)
        assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
        assert httpx.get(srv.base_url + "/metrics", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        assert httpx.get(srv.base_url + "/metrics", headers=srv.auth(), timeout=10).status_code == 401, \
            "a user's token is not the metrics token"
        ok = httpx.get(srv.base_url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert ok.status_code == 200 and "siaga_http_requests_total" in ok.text and token not in ok.text
        assert token not in srv.output()
    finally:
        srv.stop()


def test_given_the_sms_sink_then_received_and_rejected_are_counted_by_kind_and_reason_without_numbers():
    class Sink:   # what the gateway's IncidentSink does is its own tests' business (tests/e2e)
        def __init__(self):
            self.seen = []

        def on_alarm(self, alarm, via, masked):
            self.seen.append("alarm")

        def on_aml(self, location, sender, masked, at):
            self.seen.append("aml")

        def on_text_report(self, text, sender, masked, at):
            self.seen.append("text")
            return "7"

        def on_rejected(self, rejection, kind, masked):
            self.seen.append("rejected")

    metrics = Metrics()
    sink = sms_sink_counting(Sink)(metrics)
    sink.on_alarm({}, "sms", "+62811***001")
    sink.on_aml({}, "+6281298765432", "+62812*****432", 0)
    assert sink.on_text_report("banjir", "+6281298765432", "+62812*****432", 0) == "7"
    sink.on_rejected(Rejection("bad_signature", "MAC does not verify"), "alarm", "+62811***001")
    sink.on_rejected(Rejection("bad_signature", "MAC does not verify"), "alarm", "+62811***001")
    assert sink.seen == ["alarm", "aml", "text", "rejected", "rejected"]
    for kind in ("alarm", "aml", "text"):
        assert metrics.value("siaga_sms_received_total", kind=kind) == 1
    assert metrics.value("siaga_sms_rejected_total", kind="alarm", reason="bad_signature") == 2
    text = metrics.render().decode()
    assert not re.search(r"\d{6,}", text.replace("e+0", "")), "no phone number in any label"


# Declared only when their part runs (the SMS gateway, the GT06 listener); counted in tests/e2e.
OPTIONAL = {"siaga_sms_received_total", "siaga_sms_rejected_total", "siaga_sms_sent_total", "siaga_gt06_connections"}


def test_given_docs_deploy_then_every_series_it_names_is_one_the_server_declares():
    from tests.support.paths import REPO
    text = (REPO / "docs" / "deploy.md").read_text()
    named = set(re.findall(r"\b(siaga_[a-z0-9_]+?)(?:_bucket|_count|_sum)?\b", text.split("## Monitoring", 1)[1]))
    assert len(named) > 20, named
    assert named - set(SERIES) - OPTIONAL == set()
