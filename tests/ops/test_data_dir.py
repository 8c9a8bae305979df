"""Where runtime state goes when nothing says: the service's directory under systemd, run/ of the
checkout in development, ./run for an installed package (never site-packages; the wheel test in
tests/ops/test_wheel.py runs that case from an installed copy)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fleet_server import settings as settings_module
from fleet_server.settings import REPO_ROOT, Settings


def test_given_a_checkout_and_nothing_set_then_state_goes_to_its_run_directory(monkeypatch):
    monkeypatch.delenv("SIAGA_DATA_DIR", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("SIAGA_CONFIG", "/nonexistent.toml")
    assert Settings().data_dir == REPO_ROOT / "run"


def test_given_systemd_made_the_state_directory_then_it_is_the_data_dir(monkeypatch):
    monkeypatch.delenv("SIAGA_DATA_DIR", raising=False)
    monkeypatch.setenv("SIAGA_CONFIG", "/nonexistent.toml")
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/siaga:/var/lib/siaga-extra")
    s = Settings()
    assert s.data_dir == Path("/var/lib/siaga")
    assert s.sqlalchemy_url == "sqlite:////var/lib/siaga/siaga.db"


def test_given_an_explicit_data_dir_then_it_wins_over_systemd(monkeypatch, tmp_path):
    monkeypatch.setenv("SIAGA_CONFIG", "/nonexistent.toml")
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/siaga")
    monkeypatch.setenv("SIAGA_DATA_DIR", str(tmp_path))
    assert Settings().data_dir == tmp_path


def test_given_an_installed_copy_then_state_goes_to_the_working_directory_not_the_package(tmp_path):
    # The settings module as an installed package has it: no pyproject.toml beside the package.
    site = tmp_path / "site-packages" / "fleet_server"
    site.mkdir(parents=True)
    (site / "settings.py").write_text(Path(settings_module.__file__).read_text())
    work = tmp_path / "work"
    work.mkdir()
    code = ("import importlib.util as u, sys; s = u.spec_from_file_location('installed_settings', sys.argv[1]); "
            "m = u.module_from_spec(s); s.loader.exec_module(m); print(m.default_data_dir())")
    out = subprocess.run([sys.executable, "-c", code, str(site / "settings.py")], cwd=work, capture_output=True,
                         text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == work / "run"
