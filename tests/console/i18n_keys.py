"""The console's message keys, as the catalogue test and the browser walk read them: every
literal in t("…"), N_("…") (and queue.js's alias text("…")) of the console's modules, every
data-i18n text and data-i18n-attr attribute of index.html, and the data texts the console shows
through t() (run card titles, steps and whom to notify; the hand-off channels' names; the
known sites' kinds)."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "fleet_server" / "console" / "static"
CATALOGUES = STATIC / "i18n"
SOP_DIR = ROOT / "fleet_server" / "data" / "sop"
# A call of the translation functions with a string literal ("…" or a backtick string without ${}).
CALL = re.compile(r"""(?<![\w.$])(?:t|N_|text)\(\s*(?:"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\$]|\\.)*)`)""")
ATTRS = ("title", "placeholder", "aria-label", "alt")


def js_keys() -> dict[str, set[str]]:
    """{key: {file, ...}} of every literal passed to t()/N_()."""
    out: dict[str, set[str]] = {}
    for f in sorted((STATIC / "js").glob("*.js")):
        code = "\n".join(line for line in f.read_text(encoding="utf-8").splitlines()
                         if not line.lstrip().startswith("//"))   # examples in comments are not texts
        for m in CALL.finditer(code):
            raw = m.group(1) if m.group(1) is not None else m.group(2)
            key = json.loads('"' + raw.replace("\\`", "`") + '"')
            out.setdefault(key, set()).add(f.name)
    return out


class _Page(HTMLParser):
    """Collects data-i18n texts and attributes, and every text or attribute left untranslatable."""
    VOID = {"meta", "link", "input", "br", "img", "hr", "source", "col", "area", "base", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[dict] = []       # open elements: {tag, i18n: bool, no: bool, text: [..]}
        self.keys: set[str] = set()
        self.bare: list[str] = []         # texts or attributes a reader sees that no key covers

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        listed = {x.strip() for x in (a.get("data-i18n-attr") or "").split(",") if x.strip()}
        for name in ATTRS:
            if a.get(name):
                if name in listed:
                    self.keys.add(a[name])
                elif a.get("translate") != "no":
                    self.bare.append(f"<{tag}> {name}={a[name]!r}")
        if tag in self.VOID:
            return
        parent_no = bool(self.stack) and self.stack[-1]["no"]
        self.stack.append({"tag": tag, "i18n": "data-i18n" in a, "text": [],
                           "no": parent_no or a.get("translate") == "no" or tag in ("kbd", "script", "style")})

    def handle_endtag(self, tag):
        if tag in self.VOID or not self.stack:
            return
        el = self.stack.pop()
        if el["i18n"]:
            self.keys.add("".join(el["text"]).strip())
        elif self.stack and self.stack[-1]["i18n"]:
            self.stack[-1]["text"].extend(el["text"])

    def handle_data(self, data):
        if not self.stack:
            return
        el = self.stack[-1]
        el["text"].append(data)
        covered = el["no"] or any(e["i18n"] for e in self.stack)
        if not covered and re.search(r"[A-Za-z]{2,}", data):
            self.bare.append(data.strip())


def html_page() -> _Page:
    p = _Page()
    p.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    return p


def data_keys() -> set[str]:
    from fleet_server.domain.center import parse_channels

    out = set(parse_channels(None).values())
    # The call-taking form's known sites show their kind (airport, mall, ...) through t().
    sites = json.loads((ROOT / "fleet_server" / "data" / "bandung" / "sites.json").read_text(encoding="utf-8"))
    out.update(site["kind"] for site in sites["sites"] if site.get("kind"))
    for f in sorted(SOP_DIR.glob("*.yaml")):
        for card in yaml.safe_load(f.read_text(encoding="utf-8"))["cards"]:
            out.add(card["title"])
            out.update(step["text"] for step in card["steps"])
            out.update(card.get("notify") or [])
    return out


def all_keys() -> set[str]:
    return set(js_keys()) | html_page().keys | data_keys()


def catalogue(lang: str) -> dict[str, str]:
    return json.loads((CATALOGUES / f"{lang}.json").read_text(encoding="utf-8"))


# ---- the server's refusal codes and the console's sentences for them -------------------------
# The calls that make a refusal, and the position of their code argument: the domain's Refused,
# the HTTP edge's HttpRefused and refusals.response(status, code, reason), and the rule errors the
# domain turns into a Refused unchanged (center.RuleError, forwarding.ForwardError).
REFUSAL_CALLS = {"Refused": 0, "HttpRefused": 1, "RuleError": 0, "ForwardError": 0, "response": 1}


def server_refusal_codes() -> dict[str, set[str]]:
    """{code: {file:line, ...}} of every refusal code the server can send: each literal (or
    module constant) code of a refusal call in fleet_server, the codes the framework's errors get
    by status, and protocols.rejection's codes (a dispatch or registration Rejection is refused
    with its code)."""
    import ast

    from fleet_server.api import refusals
    from protocols import rejection

    files = sorted((ROOT / "fleet_server").rglob("*.py"))
    constants: dict[str, set[str]] = {}
    calls = []
    for f in files + [ROOT / "protocols" / "rejection.py"]:
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        constants.setdefault(target.id, set()).add(node.value.value)
        if f.parent.name == "protocols":
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else None
            if name in REFUSAL_CALLS and len(node.args) > REFUSAL_CALLS[name]:
                calls.append((f"{f.relative_to(ROOT)}:{node.lineno}", node.args[REFUSAL_CALLS[name]]))
    out: dict[str, set[str]] = {}
    for where, arg in calls:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            values = {arg.value}
        elif isinstance(arg, ast.Name):
            values = constants.get(arg.id, set())   # a local variable: passes on a code found elsewhere
        else:
            values = set()                           # e.code, r.code: a code made by one of these calls
        for v in values:
            out.setdefault(v, set()).add(where)
    for status, code in refusals._CODE_BY_STATUS.items():
        out.setdefault(code, set()).add(f"fleet_server/api/refusals.py (status {status})")
    for code in rejection.CODES:
        out.setdefault(code, set()).add("protocols/rejection.py")
    return out


def console_refusals() -> dict[str, str]:
    """refusals.js's REFUSALS table: {code: English sentence}."""
    code = (STATIC / "js" / "refusals.js").read_text(encoding="utf-8")
    table = code.split("export const REFUSALS = {", 1)[1].split("\n};", 1)[0]
    return {m.group(1): json.loads('"' + m.group(2) + '"')
            for m in re.finditer(r'^\s*(\w+): N_\("((?:[^"\\\n]|\\.)*)"\),?\s*$', table, re.M)}
