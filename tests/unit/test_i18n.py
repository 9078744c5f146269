"""Every message shown to people has a Japanese translation, and the catalogue loads."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tsunagi.web.i18n import CATALOG_DIR, Catalogues, current_locale

ROOT = Path(__file__).resolve().parents[2]
METHOD_MAP = [
    ("src/tsunagi/**.py", "python"),
    ("src/tsunagi/web/templates/**.html", "jinja2"),
]
OPTIONS = {"src/tsunagi/web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extracted() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, METHOD_MAP, OPTIONS, keywords={"_": None, "N_": None, "gettext": None}
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_is_translated_into_japanese() -> None:
    with (CATALOG_DIR / "ja" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale="ja")
    translated = {m.id: m.string for m in catalogue if m.id and m.string}
    messages = extracted()
    assert "Sign in" in messages
    missing = sorted(messages - set(translated))
    assert not missing, f"add Japanese for {missing} (see docs/development.md, translations)"


def test_pages_speak_the_chosen_language() -> None:
    catalogues = Catalogues()
    token = current_locale.set("ja")
    try:
        assert catalogues.gettext("Sign in") == "ログイン"
    finally:
        current_locale.reset(token)
    token = current_locale.set("en")
    try:
        assert catalogues.gettext("Sign in") == "Sign in"
    finally:
        current_locale.reset(token)
