"""Standard operating procedures as data: a run card per agency and incident type, with the steps
to take, who to notify and which unit types to propose (docs/center.md). Cards are YAML files,
validated on load; every problem is reported as "file:line: reason", all of them at once.

    cards = load_dir("fleet_server/data/sop")        # raises SopError
    card = cards.card_for("dishub", "traffic")       # or None
    checklist(card, audit_rows)                      # the steps, each ticked (who, when) or not
"""
from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fleet_server.domain import classification
from fleet_server.domain.units import UNIT_TYPES

TICKED = "sop_step_ticked"   # the audit action of a tick: to_value is the step id, detail the card


class SopError(ValueError):
    """One or more problems, each as "file:line: reason"."""

    def __init__(self, problems: list[tuple[str, int | None, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{f}:{n}: {m}" if n else f"{f}: {m}" for f, n, m in problems))


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    text: str = Field(min_length=1, max_length=200)


class Card(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")
    agency: str
    category: str
    title: str = Field(min_length=1, max_length=120)
    steps: list[Step] = Field(min_length=1, max_length=40)
    notify: list[str] = Field(default_factory=list, max_length=20)
    unit_types: list[str] = Field(default_factory=list)

    @field_validator("agency", "category", "unit_types")
    @classmethod
    def _known(cls, v, info):
        """Every value from the domain's one vocabulary (classification, units)."""
        what, allowed = {"agency": ("agency", classification.AGENCY_CODES),
                         "category": ("category", tuple(classification.AGENCIES)),
                         "unit_types": ("unit type", UNIT_TYPES)}[info.field_name]
        bad = [x for x in (v if isinstance(v, list) else [v]) if x not in allowed]
        if bad:
            raise ValueError(f"{what} {bad[0]!r} is not one of {', '.join(allowed)}")
        return v

    @model_validator(mode="after")
    def _unique_steps(self) -> "Card":
        seen: set[str] = set()
        for s in self.steps:
            if s.id in seen:
                raise ValueError(f"step id {s.id!r} appears twice")
            seen.add(s.id)
        return self

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def public(self) -> dict:
        return self.model_dump()


class CardFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cards: list[Card] = Field(min_length=1)


class RunCards:
    """Every card, found by (agency, category); an agency's `any` card is its fallback."""

    def __init__(self, cards: list[Card] | None = None):
        self.cards: dict[tuple[str, str], Card] = {}
        self.by_id: dict[str, Card] = {}
        for c in cards or []:
            self.cards[(c.agency, c.category)] = c
            self.by_id[c.id] = c

    def card_for(self, agency: str, category: str) -> Card | None:
        return self.cards.get((agency, category))

    def __len__(self) -> int:
        return len(self.cards)


# -- loading ----------------------------------------------------------------------------------
def _lines(node, path: tuple, out: dict[tuple, int]) -> None:
    """The 1-based line of every value of a composed YAML node, by path (("cards", 2, "steps"))."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            out[path + (key,)] = k.start_mark.line + 1
            _lines(v, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _lines(v, path + (i,), out)


def _line_of(lines: dict[tuple, int], loc: tuple) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def loads(text: str, name: str = "<sop>") -> list[Card]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise SopError([(name, mark.line + 1 if mark else None, f"YAML: {e.problem or e}")]) from None
    except yaml.YAMLError as e:
        raise SopError([(name, None, f"YAML: {e}")]) from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _lines(node, (), lines)
    if not isinstance(data, dict):
        raise SopError([(name, lines.get(()), "a run card file must be a mapping with `cards:`")])
    try:
        spec = CardFile.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors(include_url=False):
            loc = tuple(err["loc"])
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
            msg = err["msg"].removeprefix("Value error, ")
            problems.append((name, _line_of(lines, loc), f"{where}: {msg}" if where else msg))
        raise SopError(problems) from None
    problems = []
    seen: dict[tuple[str, str], int] = {}
    for i, c in enumerate(spec.cards):
        if (c.agency, c.category) in seen:
            problems.append((name, _line_of(lines, ("cards", i)),
                             f"cards[{i}]: a second card for {c.agency}/{c.category} (the first is cards[{seen[(c.agency, c.category)]}])"))
        seen.setdefault((c.agency, c.category), i)
    if problems:
        raise SopError(problems)
    return spec.cards


def load_dir(path: str | Path) -> RunCards:
    """Every *.yaml file of a directory (or one file); all problems of all files in one error; a
    card id or agency/category twice across files is refused too."""
    path = Path(path)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise SopError([(str(path), None, "no run card files (*.yaml) here")])
    problems: list[tuple[str, int | None, str]] = []
    cards: list[Card] = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            problems.append((f.name, None, f"cannot read: {e}"))
            continue
        try:
            cards.extend((f.name, c) for c in loads(text, f.name))
        except SopError as e:
            problems.extend(e.problems)
    where: dict[object, str] = {}
    for fname, c in cards:
        for key in (c.id, (c.agency, c.category)):
            if key in where:
                what = f"card id {c.id!r}" if key == c.id else f"a card for {c.agency}/{c.category}"
                problems.append((fname, None, f"{what} is also in {where[key]}"))
            where.setdefault(key, fname)
    if problems:
        raise SopError(problems)
    return RunCards([c for _f, c in cards])


# -- the checklist ----------------------------------------------------------------------------
def checklist(card: Card | None, audit_rows) -> dict | None:
    """The card with each step ticked or not: who ticked it and when (the first tick counts).
    audit_rows: the incident's audit entries (dicts or rows with action/to_value/actor/at/detail)."""
    if card is None:
        return None
    ticks: dict[str, dict] = {}
    for a in audit_rows:
        g = a.get if isinstance(a, dict) else (lambda k, _a=a: getattr(_a, k))
        if g("action") == TICKED and g("detail") == card.id and g("to_value") not in ticks:
            ticks[g("to_value")] = {"by": g("actor"), "at": g("at")}
    out = card.public()
    out["steps"] = [{**s.model_dump(), "ticked": ticks.get(s.id)} for s in card.steps]
    out["done"] = sum(1 for s in card.steps if s.id in ticks)
    return out


def check_tick(card: Card | None, agency: str, category: str, step_id: str, already: bool) -> Step:
    """A tick must name a step of the incident's card, once."""
    from fleet_server.domain.center import RuleError
    if card is None:
        raise RuleError("no_sop", f"no run card for {agency}/{category}")
    step = card.step(step_id)
    if step is None:
        raise RuleError("bad_step", f"step {step_id!r} is not on run card {card.id!r}")
    if already:
        raise RuleError("already_ticked", f"step {step_id!r} is already ticked")
    return step
