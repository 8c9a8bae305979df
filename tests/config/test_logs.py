"""Structured logs with personal data masked."""
import json
import logging

from fleet_server import logs


def test_phone_numbers_are_masked():
    assert logs.mask_phone("from +6281234567890 ok") == "from +62812*****890 ok"
    assert "81234567" not in logs.mask_phone("sender 081234567890")


def test_json_log_line_has_fields_and_masks(capsys):
    logs.setup("INFO", json_lines=True)
    logs.event(logging.getLogger("siaga.test"), logging.WARNING, "sms from +6281234567890 rejected",
               reason="bad_hmac", sender="+6281234567890")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    rec = json.loads(line)
    assert rec["level"] == "warning" and rec["reason"] == "bad_hmac"
    assert "1234567" not in line and rec["logger"] == "siaga.test"
