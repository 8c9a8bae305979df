"""One settings object: sections read from the TOML file (SIAGA_CONFIG) and from the environment,
the environment winning, under both the nested (SIAGA_BROKER__HOST) and the flat (SIAGA_MQTT_HOST)
names. The checks are generated from the model, so a new section or field is covered on arrival."""
import json
import os
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from fleet_server.settings import Settings

FIELDS = [(section, name) for section, model in Settings.sections().items() for name in model.model_fields]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.upper().startswith("SIAGA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)   # no ./siaga.toml of the caller's


def other_value(default, salt: int, annotation=None):
    """A valid value of the default's type that differs from it (salt tells two of them apart).
    A field of a few named choices (Literal) takes another choice: salt 0 and 2 one that is not
    the default, salt 1 the next (so two salts still differ when there are only two choices)."""
    if typing.get_origin(annotation) is typing.Literal:
        order = [c for c in typing.get_args(annotation) if c != default] + [default]
        return order[salt % len(order)]
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 1 + salt
    if isinstance(default, float):
        return default + 0.5 + salt
    if isinstance(default, tuple):
        return [v + 1.0 + salt for v in default]
    if isinstance(default, Path) or default is None:
        return f"/srv/siaga/{salt}/areas"
    return f"value-{salt}"


def same(got, want) -> bool:
    if isinstance(got, tuple):
        return list(got) == list(want)
    if isinstance(got, Path):
        return got == Path(want)
    return got == want


def env_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def toml_text(value) -> str:
    return json.dumps(value)   # a JSON scalar or list of numbers is valid TOML


def write_toml(tmp_path, monkeypatch, values: dict, flat_names: bool = False) -> None:
    if flat_names:
        text = "".join(f"{k} = {toml_text(v)}\n" for k, v in values.items())
    else:
        text = "".join(f"[{section}]\n" + "".join(f"{k} = {toml_text(v)}\n" for k, v in fields.items())
                       for section, fields in values.items())
    path = tmp_path / "siaga.toml"
    path.write_text(text)
    monkeypatch.setenv("SIAGA_CONFIG", str(path))


def test_every_section_of_the_model_is_covered():
    assert set(Settings.sections()) >= {"broker", "database", "console", "sms", "dispatch", "telemetry", "units",
                                        "ingest", "incidents", "http", "auth", "log"}
    assert len(FIELDS) >= 50


@pytest.mark.parametrize("section", sorted(Settings.sections()))
def test_given_a_toml_table_per_section_when_settings_load_then_every_field_of_it_is_read(
        section, tmp_path, monkeypatch):
    base = getattr(Settings(), section)
    want = {name: other_value(getattr(base, name), 0, f.annotation) for name, f in type(base).model_fields.items()}
    write_toml(tmp_path, monkeypatch, {section: want})
    got = getattr(Settings(), section)
    for name, value in want.items():
        assert same(getattr(got, name), value), f"[{section}] {name} from the TOML file was not read"


@pytest.mark.parametrize("section", sorted(Settings.sections()))
def test_given_toml_and_environment_when_settings_load_then_the_environment_wins_under_both_names(
        section, tmp_path, monkeypatch):
    model = Settings.sections()[section]
    base = getattr(Settings(), section)
    from_toml = {name: other_value(getattr(base, name), 0, f.annotation) for name, f in model.model_fields.items()}
    write_toml(tmp_path, monkeypatch, {section: from_toml})
    flat_of = {name: flat for flat, name in model.flat_names().items()}
    names = sorted(model.model_fields)
    want = {}
    for i, name in enumerate(names):
        value = other_value(getattr(base, name), 1, model.model_fields[name].annotation)
        want[name] = value
        # alternate the two spellings so each is proven on every section
        key = f"SIAGA_{section}__{name}" if i % 2 else f"SIAGA_{flat_of[name]}"
        monkeypatch.setenv(key.upper(), env_text(value))
    got = getattr(Settings(), section)
    for name, value in want.items():
        assert same(getattr(got, name), value), f"{section}.{name}: the environment did not override the TOML file"


@pytest.mark.parametrize("section,name", FIELDS)
def test_every_documented_flat_environment_name_still_works(section, name, monkeypatch):
    model = Settings.sections()[section]
    flat = {n: f for f, n in model.flat_names().items()}[name]
    value = other_value(getattr(getattr(Settings(), section), name), 2, model.model_fields[name].annotation)
    monkeypatch.setenv(f"SIAGA_{flat.upper()}", env_text(value))
    assert same(getattr(getattr(Settings(), section), name), value)


def test_flat_names_at_the_top_of_the_toml_file_are_read(tmp_path, monkeypatch):
    write_toml(tmp_path, monkeypatch, {"mqtt_port": 2883, "fold_radius_m": 250.0, "run_ingest": False},
               flat_names=True)
    s = Settings()
    assert (s.broker.port, s.incidents.fold_radius_m, s.ingest.run) == (2883, 250.0, False)


def test_given_a_typo_in_the_toml_file_when_settings_load_then_it_is_refused_by_name(tmp_path, monkeypatch):
    (tmp_path / "siaga.toml").write_text("[broker]\nprot = 1884\n")
    monkeypatch.setenv("SIAGA_CONFIG", str(tmp_path / "siaga.toml"))
    with pytest.raises(ValidationError, match=r"broker\.prot"):
        Settings()


def test_the_default_config_file_is_siaga_toml_in_the_working_directory(tmp_path):
    (tmp_path / "siaga.toml").write_text("[http]\nport = 9000\n")
    assert Settings().http.port == 9000


def test_default_database_is_sqlite_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SIAGA_DATA_DIR", str(tmp_path))
    assert Settings().sqlalchemy_url == f"sqlite:///{tmp_path / 'siaga.db'}"
