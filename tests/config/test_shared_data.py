"""Without the shared captures, every test that reads them fails and says which path is missing:
none is skipped, none silently collects nothing."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

from tests.support.paths import MISSING, REPO

# Every test module that reads ../shared/data (through the shared_data fixture, shared_path /
# shared_files, or a parametrization over a shared directory).
READERS = ["tests/firmware/test_nmea.py", "tests/server/test_cap.py", "tests/gsm/test_sms_pdu.py",
           "tests/gsm/test_aml.py", "tests/gsm/test_modem_driver.py", "tests/adapters/test_gt06_decoder.py",
           "tests/adapters/test_phone_decoders.py"]


def test_given_an_empty_shared_data_dir_then_the_tests_that_read_it_fail_naming_the_path(tmp_path):
    empty = tmp_path / "no-captures"
    empty.mkdir()
    report = tmp_path / "report.xml"
    env = dict(os.environ, SIAGA_SHARED_DATA=str(empty), HYPOTHESIS_PROFILE="dev", PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                          *READERS], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, (out.stdout + out.stderr)[-3000:]
    cases = ET.parse(report).getroot().iter("testcase")
    failed, skipped = {}, []
    for case in cases:
        for tag in ("failure", "error"):
            for problem in case.findall(tag):
                failed[case.get("classname") + "::" + case.get("name")] = (problem.get("message") or "") + (problem.text or "")
        if case.find("skipped") is not None:
            skipped.append(case.get("name"))
    assert skipped == []
    assert len(failed) >= 50
    vague = [name for name, text in failed.items() if f"{MISSING}: {empty}" not in text]
    assert vague == [], f"these failed without naming the missing path: {vague[:5]}"
    for module in READERS:
        dotted = module[:-3].replace("/", ".")
        assert any(name.startswith(dotted + "::") for name in failed), f"{module} did not fail without the captures"
    # the gpsd captures are parametrized from a directory listing: still collected, and failing
    assert any("missing:nmea/gpsd/*.log" in name for name in failed)
