"""deploy/prometheus/siaga-alerts.yml with Debian's promtool: the rules parse (`check rules`) and
fire, and stay quiet, on the series the server exposes (`test rules`, cases in
siaga-alerts.test.yml); and every series a rule reads is one the server declares."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO

RULES = REPO / "deploy" / "prometheus" / "siaga-alerts.yml"
CASES = Path(__file__).with_name("siaga-alerts.test.yml")


def _promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool not installed: `make setup` installs it (apt package prometheus)")
    return found


def test_given_the_alert_rules_then_promtool_checks_them():
    out = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 7 rules found" in out.stdout


def test_given_the_alert_rules_then_promtool_unit_tests_pass():
    out = subprocess.run([_promtool(), "test", "rules", CASES.name], cwd=CASES.parent, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    tested = {t["alertname"] for case in yaml.safe_load(CASES.read_text())["tests"]
              for t in case.get("alert_rule_test", [])}
    rules = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert rules == tested == {"SiagaResponsePromiseBreached", "SiagaPromiseMissedOften", "SiagaAcknowledgeSlow",
                               "SiagaServerDown", "SiagaIngestLag", "SiagaBrokerLinkDown", "SiagaDevicesOfflineSpike"}


def test_given_the_rules_then_every_series_they_read_is_one_the_server_declares():
    from tests.web.test_metrics import SERIES
    exprs = " ".join(r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"])
    read = set(re.findall(r"\b(siaga_[a-z_]+?)(?:_bucket|_count|_sum)?\b(?=[{\s)\[]|$)", exprs))
    assert read, exprs
    assert read <= set(SERIES), read - set(SERIES)
