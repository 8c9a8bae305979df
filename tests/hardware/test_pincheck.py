"""Specification of the pin checker: shipped pin maps pass; a pin that clashes or cannot do its job on
the chip is rejected with the rule broken and a reason a technician can act on."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from hardware.schematics import BOARDS, board_file
from hardware.schematics.boardmap import BoardFormatError, load_board, parse_board
from hardware.schematics.chips import ESP32, PICO_W
from hardware.schematics.pincheck import check
from tests.support.hardware_boards import board_data, move, parsed, pin_entry
from tests.support.paths import REPO

RULES = {"conflict", "duplicate-function", "no-such-gpio", "flash", "radio", "direction", "input-only",
         "no-internal-pull", "floating", "not-adc", "adc2-wifi", "strapping", "voltage", "uart",
         "uart-reserved", "uart-pins", "adc-divider", "netlist", "modem-supply"}


def rules_for(data: dict, function: str | None = None) -> set[str]:
    return {p.rule for p in check(parsed(data)) if function is None or p.function == function}


def reasons(data: dict) -> str:
    return " | ".join(p.reason for p in check(parsed(data)))


@pytest.mark.parametrize("board", BOARDS)
def test_given_a_shipped_pin_map_when_checked_then_it_has_no_problem(board):
    problems = check(load_board(board_file(board)))
    assert problems == [], "\n".join(map(str, problems))


@given(gpio=st.sampled_from(sorted(ESP32.input_only)),
       function=st.sampled_from(["led_red", "led_green", "led_blue", "buzzer", "modem_tx", "modem_reset"]))
def test_given_an_esp32_output_on_gpio_34_to_39_then_it_is_rejected_as_input_only(gpio, function):
    data = board_data("esp32_button")
    for other in data["pins"]:        # free the pin first, so only the rule under test can fire
        if other["gpio"] == gpio and other["function"] != function:
            move(data, other["function"], 26)
    move(data, function, gpio)
    assert rules_for(data, function) == {"input-only"}
    assert "input-only" in reasons(data) and f"GPIO {gpio}" in reasons(data)


@given(gpio=st.sampled_from(sorted(ESP32.strapping)),
       function=st.sampled_from(["sos_police", "sos_fire", "sos_medical"]))
def test_given_an_sos_key_on_a_strapping_pin_then_it_is_rejected_because_it_may_be_held_at_boot(gpio, function):
    data = board_data("esp32_button")
    for other in data["pins"]:
        if other["gpio"] == gpio:
            move(data, other["function"], 26)
    move(data, function, gpio)
    assert rules_for(data, function) == {"strapping"}
    assert "held during power-up" in reasons(data)


def test_given_gpio12_with_a_pull_up_then_the_reason_names_the_flash_voltage():
    data = board_data("esp32_button")
    move(data, "sos_police", 12)
    text = reasons(data)
    assert "MTDI" in text and "1.8 V" in text


def test_given_an_led_on_a_strapping_pin_then_it_is_allowed_because_only_inputs_are_held_at_boot():
    data = board_data("esp32_button")
    move(data, "led_blue", 2)
    assert rules_for(data) == set()


@given(gpio=st.sampled_from(sorted(ESP32.adc2 - set(ESP32.strapping))))
def test_given_the_battery_adc_on_adc2_while_wifi_is_on_then_it_is_rejected(gpio):
    data = board_data("esp32_button")
    for other in data["pins"]:
        if other["gpio"] == gpio:
            move(data, other["function"], 26 if gpio != 26 else 13)
    move(data, "battery_adc", gpio)
    assert rules_for(data, "battery_adc") == {"adc2-wifi"}
    assert "ADC2" in reasons(data) and "Wi-Fi" in reasons(data)
    data["wifi"] = False
    assert rules_for(data, "battery_adc") == set()


def test_given_an_adc_on_a_pin_without_adc_then_it_is_rejected_on_both_chips():
    esp = move(board_data("esp32_button"), "battery_adc", 19)
    assert rules_for(esp, "battery_adc") == {"not-adc"}
    pico = move(board_data("picow_button"), "battery_adc", 21)
    assert rules_for(pico, "battery_adc") == {"not-adc"}
    assert "GP26, GP27, GP28" in reasons(pico)


@given(data_=st.data())
def test_given_two_functions_on_one_gpio_then_a_conflict_names_both(data_):
    board = data_.draw(st.sampled_from(BOARDS))
    data = board_data(board)
    functions = [p["function"] for p in data["pins"]]
    first, second = data_.draw(st.lists(st.sampled_from(functions), min_size=2, max_size=2, unique=True))
    target = pin_entry(data, first)["gpio"]
    move(data, second, target)
    problems = [p for p in check(parsed(data)) if p.rule == "conflict"]
    assert len(problems) == 1
    assert problems[0].gpio == target
    assert {problems[0].function, problems[0].reason.split("'")[1]} == {first, second}


@given(gpio=st.integers(min_value=6, max_value=11))
def test_given_a_pin_wired_to_the_spi_flash_then_it_is_rejected(gpio):
    data = move(board_data("esp32_tracker"), "led", gpio)
    assert rules_for(data, "led") == {"flash"}


@given(gpio=st.sampled_from(sorted(PICO_W.radio)))
def test_given_a_pico_w_pin_owned_by_the_cyw43_then_it_is_rejected(gpio):
    data = move(board_data("picow_button"), "buzzer", gpio)
    assert rules_for(data, "buzzer") == {"radio"}
    assert "CYW43" in reasons(data)


def test_given_a_pico_w_uart_on_a_pin_that_uart_cannot_reach_then_it_is_rejected():
    data = move(board_data("picow_button"), "modem_tx", 2)
    assert rules_for(data, "modem_tx") == {"uart-pins"}
    assert "GP4, GP8, GP20" in reasons(data)


def test_given_the_esp32_modem_on_uart0_then_it_is_rejected_because_the_repl_lives_there():
    data = board_data("esp32_button")
    data["uarts"]["modem"]["id"] = 0
    assert rules_for(data) == {"uart-reserved"}
    assert "REPL" in reasons(data)


def test_given_an_internal_pull_up_on_an_input_only_pin_then_an_external_one_is_asked_for():
    data = board_data("esp32_tracker")
    pin_entry(data, "key_sos")["pull"] = "up"
    assert rules_for(data, "key_sos") == {"no-internal-pull"}
    assert "external_up" in reasons(data)


def test_given_a_key_without_any_pull_then_it_is_rejected_as_floating():
    data = board_data("picow_button")
    pin_entry(data, "sos")["pull"] = "none"
    assert rules_for(data, "sos") == {"floating"}


def test_given_5_volts_on_a_pin_or_a_divider_that_lets_too_much_through_then_it_is_rejected():
    data = board_data("esp32_button")
    pin_entry(data, "modem_rx")["voltage"] = 5.0
    assert rules_for(data, "modem_rx") == {"voltage"}
    data = board_data("esp32_tracker")
    data["adc"]["supply_adc"]["r_top"] = 100000     # 53 V load dump * 10/110 = 4.8 V on the pin
    assert rules_for(data, "supply_adc") == {"voltage"}
    assert "4.82 V" in reasons(data)


def test_given_a_pin_whose_net_does_not_reach_the_mcu_then_the_netlist_is_rejected():
    data = board_data("esp32_button")
    pin_entry(data, "led_red")["gpio"] = 19       # moved without rewiring the net
    assert rules_for(data, "led_red") == {"netlist"}
    assert "does not connect U1.GPIO19" in reasons(data)


def test_given_a_net_naming_an_unknown_part_or_a_part_on_no_net_then_the_netlist_is_rejected():
    data = board_data("picow_button")
    data["nets"]["SOS"].append("SW9.1")
    data["parts"].append(dict(data["parts"][1], ref="SW8"))
    text = reasons(data)
    assert "no part is SW9" in text and "SW8" in text and "on no net" in text


@pytest.mark.parametrize("board", BOARDS)
def test_given_the_gsm_module_fed_from_the_3v3_rail_then_it_is_rejected(board):
    data = board_data(board)
    modem = next(p["ref"] for p in data["parts"] if p.get("role") == "modem")
    supply = next(net for net, nodes in data["nets"].items() if f"{modem}.VCC" in nodes)
    data["nets"][supply].remove(f"{modem}.VCC")
    rail = "3V3" if "3V3" in data["nets"] else "VSYS"
    data["nets"][rail].append(f"{modem}.VCC")
    if rail == "VSYS":                      # the Pico W has no 3V3 net of ours: wire its 3V3 pin
        data["nets"][rail].append("U1.3V3")
    text = reasons(data)
    assert rules_for(data) == {"modem-supply"}
    assert "3.4-4.4 V" in text and "µF" in text      # and its bulk capacitor is now on another net


@pytest.mark.parametrize("board", BOARDS)
def test_given_the_gsm_module_without_its_1000_uf_capacitor_then_it_is_rejected(board):
    data = board_data(board)
    bulk = next(p for p in data["parts"] if "1000 µF" in p["value"])
    bulk["value"] = "470 µF 10 V"
    assert rules_for(data) == {"modem-supply"}
    assert "has 470 µF" in reasons(data) and "at least 1000 µF" in reasons(data)


def test_given_a_direction_that_contradicts_the_use_then_it_is_rejected():
    data = board_data("esp32_button")
    pin_entry(data, "buzzer")["direction"] = "in"
    assert rules_for(data, "buzzer") == {"direction"}


@given(gpio=st.integers(min_value=-3, max_value=45),
       use=st.sampled_from(["key", "switch", "sense", "adc", "uart_rx", "led", "buzzer", "control", "uart_tx"]),
       pull=st.sampled_from(["up", "down", "none", "external_up", "external_down"]),
       board=st.sampled_from(BOARDS))
def test_given_any_pin_on_any_gpio_then_the_checker_answers_with_known_rules_and_never_crashes(gpio, use, pull, board):
    data = board_data(board)
    entry = data["pins"][0]
    entry.update(gpio=gpio, use=use, pull=pull, direction="in" if use in ("key", "switch", "sense", "adc", "uart_rx") else "out")
    problems = check(parsed(data))
    assert {p.rule for p in problems} <= RULES
    assert all(p.reason for p in problems)
    if not 0 <= gpio <= 39:
        assert "no-such-gpio" in {p.rule for p in problems}


@given(st.dictionaries(st.sampled_from(["board", "chip", "kind", "wifi", "pins", "uarts", "adc", "nets", "parts"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2))))
def test_given_a_malformed_pin_map_then_it_is_refused_with_a_reason_not_a_crash(data):
    with pytest.raises(BoardFormatError) as exc:
        parse_board(data)
    assert str(exc.value)


def test_given_a_bad_pin_map_file_when_the_cli_checks_it_then_it_exits_1_and_prints_the_reason(tmp_path):
    data = move(board_data("esp32_button"), "led_red", 36)
    bad = tmp_path / "board.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    good = board_file("picow_button")
    run = subprocess.run([sys.executable, "-m", "hardware.schematics.pincheck", str(good), str(bad)],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert f"{good}: ok" in run.stdout
    assert "led_red (GPIO 36): [input-only]" in run.stdout


def test_given_the_shipped_pin_maps_when_the_cli_checks_them_then_it_exits_0():
    run = subprocess.run([sys.executable, "-m", "hardware.schematics.pincheck"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(": ok") == len(BOARDS)


@given(board=st.sampled_from(BOARDS), index=st.integers(min_value=0, max_value=9),
       key=st.sampled_from(["function", "gpio", "use", "direction", "pull", "active", "voltage", "net"]),
       value=st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.text(max_size=4),
                       st.lists(st.integers(), max_size=2)))
def test_given_one_garbage_field_in_a_shipped_pin_map_then_it_is_refused_or_judged_never_crashes(board, index, key, value):
    data = board_data(board)
    data["pins"][index][key] = value
    try:
        problems = check(parse_board(data))
    except BoardFormatError as exc:
        assert "pin" in str(exc) and key in str(exc)
    else:
        assert {p.rule for p in problems} <= RULES


# Pins an ESP32 with Wi-Fi on may give each job: not flash, not strapping, outputs not on 34-39,
# internal pulls not on 34-39, ADC on ADC1 only. The checker must accept every such placement.
ESP32_FREE = {4, 13, 14, 16, 17, 18, 19, 21, 22, 23, 25, 26, 27, 32, 33}
ESP32_SAFE = {"internal_pull_input": ESP32_FREE, "output": ESP32_FREE,
              "external_pull_input": ESP32_FREE | {34, 35, 36, 39}, "uart_rx": ESP32_FREE | {34, 35, 36, 39},
              "adc": {32, 33, 34, 35, 36, 39}}


def _job(pin: dict) -> str:
    if pin["use"] == "adc":
        return "adc"
    if pin["use"] == "uart_rx":
        return "uart_rx"
    if pin["direction"] == "out":
        return "output"
    return "external_pull_input" if pin["pull"].startswith("external") else "internal_pull_input"


@given(data_=st.data(), board=st.sampled_from(["esp32_button", "esp32_tracker"]))
def test_given_any_placement_on_pins_fit_for_each_job_then_the_esp32_board_passes(data_, board):
    data = board_data(board)
    used: set[int] = set()
    placement = {}
    for pin in sorted(data["pins"], key=lambda p: len(ESP32_SAFE[_job(p)])):   # tightest job first
        choices = sorted(ESP32_SAFE[_job(pin)] - used)
        placement[pin["function"]] = data_.draw(st.sampled_from(choices), label=pin["function"])
        used.add(placement[pin["function"]])
    parking = 100   # move everything off the board first so no intermediate move collides
    for function in placement:
        move(data, function, parking)
        parking += 1
    for function, gpio in placement.items():
        move(data, function, gpio)
    problems = check(parsed(data))
    assert problems == [], "\n".join(map(str, problems))


def test_given_the_checker_source_then_every_rule_it_can_report_is_known_and_documented():
    source = (REPO / "hardware" / "schematics" / "pincheck.py").read_text(encoding="utf-8")
    emitted = set(re.findall(r'bad\("([a-z0-9-]+)"', source))
    emitted |= set(re.findall(r'Problem\([^"\n]*"([a-z0-9-]+)"', source))
    assert emitted == RULES
    readme = (REPO / "hardware" / "schematics" / "README.md").read_text(encoding="utf-8")
    assert {r for r in RULES if f"`{r}`" not in readme} == set()
