"""One settings class from environment and TOML; structured logs with personal data masked."""
import json
import logging

from fleet_server import logs
from fleet_server.settings import Settings


def test_settings_read_toml_and_environment_wins(tmp_path, monkeypatch):
    toml = tmp_path / "siaga.toml"
    toml.write_text('mqtt_port = 2883\nfold_radius_m = 250.0\nhttp_port = 9000\n')
    monkeypatch.setenv("SIAGA_CONFIG", str(toml))
    monkeypatch.setenv("SIAGA_HTTP_PORT", "9112")
    s = Settings()
    assert s.mqtt_port == 2883 and s.fold_radius_m == 250.0
    assert s.http_port == 9112


def test_default_database_is_sqlite_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SIAGA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SIAGA_CONFIG", raising=False)
    assert Settings().sqlalchemy_url == f"sqlite:///{tmp_path / 'siaga.db'}"


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
