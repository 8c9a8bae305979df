"""The console's Indonesian catalogue against the console's code: every text the console can show
(t()/N_() literals of its modules, index.html's data-i18n texts and attributes, the run cards'
and hand-off channels' texts) has a translation, no translation is left for a text that is gone,
placeholders survive translation, and index.html has no text a translation cannot reach."""
from __future__ import annotations

import json
import re

from tests.console.i18n_keys import CATALOGUES, all_keys, catalogue, html_page, js_keys

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_given_the_console_code_when_its_texts_are_extracted_then_each_has_an_indonesian_translation():
    keys, cat = all_keys(), catalogue("id")
    found = js_keys()
    missing = sorted(keys - set(cat))
    assert not missing, "texts without an Indonesian translation (add them to static/i18n/id.json): " + "; ".join(
        f"{k!r} ({', '.join(sorted(found.get(k, {'index.html or data'})))})" for k in missing)
    assert len(keys) > 300   # the extraction itself found the console's texts


def test_given_the_indonesian_catalogue_then_no_key_is_stale_and_none_is_empty():
    keys, cat = all_keys(), catalogue("id")
    assert sorted(set(cat) - keys) == [], "translations of texts the console no longer shows"
    assert [k for k, v in cat.items() if not v.strip()] == []


def test_given_each_translation_then_it_keeps_exactly_the_placeholders_of_its_english_text():
    bad = {k: v for k, v in catalogue("id").items()
           if sorted(PLACEHOLDER.findall(k)) != sorted(PLACEHOLDER.findall(v))}
    assert bad == {}


def test_given_the_catalogue_files_then_each_is_a_flat_object_with_sorted_keys_and_two_space_indent():
    for f in sorted(CATALOGUES.glob("*.json")):
        text = f.read_text(encoding="utf-8")
        data = json.loads(text)
        assert all(isinstance(v, str) for v in data.values()), f.name
        assert text == json.dumps(dict(sorted(data.items())), indent=2, ensure_ascii=False) + "\n", \
            f"{f.name}: keep it sorted, 2-space indented, UTF-8 (docs/i18n.md)"


def test_given_index_html_then_every_visible_text_and_attribute_is_marked_for_translation():
    page = html_page()
    assert page.bare == [], "index.html texts without data-i18n / data-i18n-attr (or translate=\"no\")"
    assert {"Queue", "Log in", "Keyboard shortcuts", "open incidents"} <= page.keys


def test_given_every_refusal_code_the_server_can_send_then_the_console_says_it_in_indonesian():
    from tests.console.i18n_keys import console_refusals, server_refusal_codes

    codes, table, cat = server_refusal_codes(), console_refusals(), catalogue("id")
    assert {"not_found", "illegal_transition", "bad_reference", "not_your_station", "insufficient_role",
            "bad_value", "invalid_request"} <= set(codes)   # the scan itself found the server's codes
    missing = {c: sorted(where)[:3] for c, where in codes.items() if c not in table}
    assert missing == {}, "refusal codes without a sentence in static/js/refusals.js REFUSALS"
    untranslated = sorted(text for text in table.values() if text not in cat)
    assert untranslated == []
    assert sorted(set(table) - set(codes)) == [], "sentences for codes the server no longer sends"
