"""The command line's messages in the reader's language (English or Bahasa Indonesia): standard
gettext catalogues whose sources are fleet_server/locale/<lang>/LC_MESSAGES/siaga.po, read with
Babel at first use — no compiled .mo file in the repository or the wheel, the .po files travel as
package data. English is the source text (msgid); a message without a translation shows in
English. Language: SIAGA_LANG (en, id), else the usual LANGUAGE / LC_ALL / LC_MESSAGES / LANG.
docs/i18n.md says how to add and translate a message.

    from fleet_server.i18n import _
    typer.echo(_("user {username} ({role}) created in {where}").format(...))

A layer below the command (provisioning, releases, the database and broker tools) raises its
errors in English with a template marked N_() and its parameters, `Message(N_("cannot open
{port}: {error}"), port=..., error=...)`: str(e) and the log stay English, and the command shows
the reader's language with localized(e). Third-party text (an OS error, esptool's output) is a
parameter and stays as given.
"""
from __future__ import annotations

import gettext
import os
from functools import lru_cache
from io import BytesIO
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "siaga"
LANGUAGES = ("en", "id")
_LOCALE_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def _code(value: str) -> str:
    """'id_ID.UTF-8' -> 'id'; 'C', 'POSIX' -> 'c', 'posix'."""
    return value.split(".")[0].split("@")[0].replace("-", "_").split("_")[0].strip().lower()


def language(environ=None) -> str:
    """The language to speak: SIAGA_LANG when it names one we have, else the first of the
    locale variables that is set (LANGUAGE may list several, 'id:en'), else English."""
    env = os.environ if environ is None else environ
    chosen = _code(env.get("SIAGA_LANG", ""))
    if chosen in LANGUAGES:
        return chosen
    for var in _LOCALE_VARS:
        value = env.get(var, "")
        if not value:
            continue
        for part in value.split(":"):
            if _code(part) in LANGUAGES:
                return _code(part)
        return "en"
    return "en"


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def translations(lang: str) -> gettext.NullTranslations:
    path = po_path(lang)
    if lang == "en" or not path.is_file():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    mo = BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


def _(message: str) -> str:
    """The message in the reader's language (read from the environment at each call)."""
    return translations(language()).gettext(message)


def N_(message: str) -> str:
    """Marks a message for the catalogues and leaves it in English: the template of a Message,
    translated only where it is shown."""
    return message


class Message(str):
    """A message in English — its value as a str, what str(e) and the log say — that keeps its
    template and parameters so a reader can see it in their language (translated())."""

    template: str
    params: dict

    def __new__(cls, template: str, /, **params):
        self = super().__new__(cls, template.format(**params) if params else template)
        self.template = template
        self.params = params
        return self

    def translated(self) -> str:
        text = _(self.template)
        if not self.params:
            return text
        return text.format(**{k: v.translated() if isinstance(v, Message) else v for k, v in self.params.items()})

    def __reduce__(self):
        return (_message, (self.template, self.params))


def _message(template: str, params: dict) -> Message:
    return Message(template, **params)


def localized(value) -> str:
    """What the reader sees of a message or an error: a Message (or an error whose message is one)
    in the reader's language, anything else as it is."""
    if isinstance(value, BaseException):
        first = value.args[0] if len(value.args) == 1 else None
        return first.translated() if isinstance(first, Message) else str(value)
    return value.translated() if isinstance(value, Message) else str(value)
