"""Specification of the technician guides: one per board, embedding its generated wiring diagram,
with a pin table that says exactly what the pin map says (GPIO and header position), every link
resolving, and the sections a technician needs on site."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from hardware.schematics import BOARDS, board_file
from hardware.schematics.boardmap import load_board
from hardware.schematics.headers import HEADERS
from tests.support.paths import REPO

INSTALL = REPO / "docs" / "install"
# Linked documents kept with the firmware (its status LED table); their links are checked for
# presence, not existence.
OWNED_ELSEWHERE = {REPO / "docs" / "firmware.md"}
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
ROW = re.compile(r"^\| `(\w+)` \| ((?:GPIO|GP)\d+) \| ([\w-]+) \|", re.M)


def guide(board: str) -> str:
    return (INSTALL / f"{board}.md").read_text(encoding="utf-8")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("board", BOARDS)
def test_given_a_board_then_its_guide_embeds_the_generated_wiring_diagram(board):
    text = guide(board)
    assert "![" in text and f"](../../hardware/schematics/{board}/wiring.svg)" in text
    assert (INSTALL / f"../../hardware/schematics/{board}/wiring.svg").resolve().is_file()


@pytest.mark.parametrize("board", BOARDS)
def test_given_a_guide_then_its_pin_table_equals_the_pin_map_and_the_header_positions(board):
    pin_map = load_board(board_file(board))
    rows = {fn: (pin, header) for fn, pin, header in ROW.findall(guide(board))}
    header_of = HEADERS[pin_map.chip.name]
    expected = {p.function: (pin_map.chip.pin_name(p.gpio), header_of[p.gpio]) for p in pin_map.pins}
    assert rows == expected


@pytest.mark.parametrize("page", sorted(p.name for p in INSTALL.glob("*.md")))
def test_given_an_install_page_then_every_relative_link_and_anchor_resolves(page):
    text = (INSTALL / page).read_text(encoding="utf-8")
    links = [l for l in LINK.findall(text) if not re.match(r"[a-z]+:", l)]
    assert links, f"{page} links nothing"
    for link in links:
        path, _, anchor = link.partition("#")
        target = (INSTALL / path).resolve() if path else INSTALL / page
        if target in OWNED_ELSEWHERE:
            continue
        assert target.exists(), f"{page}: broken link {link}"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(encoding="utf-8"), re.M)
            assert anchor in {slug(h) for h in headings}, f"{page}: no heading for #{anchor}"


@pytest.mark.parametrize("board", BOARDS)
def test_given_a_guide_then_it_covers_install_provisioning_status_leds_and_troubleshooting(board):
    text = guide(board)
    kind = load_board(board_file(board)).kind
    assert re.search(rf"siaga device provision --port \S+ --kind {kind} --board {board}", text)
    assert "(provisioning.md)" in text and "(../firmware.md)" in text
    headings = " ".join(re.findall(r"^## (.+)$", text, re.M)).lower()
    for section in ("wiring", "mounting", "provisioning", "verification", "troubleshooting"):
        assert section in headings, f"{board}: no {section} section"
    assert "POWER.md" in text


def test_given_the_troubleshooting_tables_then_they_cover_network_brownout_and_gps():
    button, tracker = guide("esp32_button").lower(), guide("esp32_tracker").lower()
    assert "no connection" in button and "brownout" in button
    assert "gps no fix" in tracker and "metal roof" in tracker and "no network" in tracker


def test_given_the_provisioning_page_then_it_describes_port_kind_site_location_label_and_revocation():
    text = (INSTALL / "provisioning.md").read_text(encoding="utf-8")
    for needle in ("--port", "--kind", "--site", "--lat", "--unit", "QR", "--replace",
                   "shown **once**", "decommission", "online"):
        assert needle in text, needle
