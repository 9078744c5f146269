"""Translations for pages: Babel catalogues loaded from the ``.po`` files at start-up.

English is the source language (the msgids); ``ja`` has a catalogue. The language of a
request is the user's own setting, else the ``tsunagi_lang`` cookie, else the default.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

CATALOG_DIR = Path(__file__).resolve().parents[1] / "i18n"
LANGUAGES = ("ja", "en")

current_locale: ContextVar[str] = ContextVar("current_locale", default="ja")


def N_(message: str) -> str:  # noqa: N802 - the name extraction tools know
    """Mark ``message`` for translation where it is defined; it is translated when shown."""
    return message


ROLE_LABELS = {
    "communicator": N_("Communicator"),
    "supervisor": N_("Supervisor"),
    "manager": N_("Manager"),
    "administrator": N_("Administrator"),
    "client_viewer": N_("Client viewer"),
}
AUDIT_LABELS = {
    "auth.signed_in": N_("Signed in"),
    "auth.signed_out": N_("Signed out"),
    "auth.sign_in_failed": N_("Sign-in failed"),
    "authz.denied": N_("Permission denied"),
    "customer.read": N_("Customer record opened"),
    "customer.history_read": N_("Customer history opened"),
    "voc.read": N_("Customers' texts read for VOC (masked)"),
    "allowed": N_("allowed"),
    "denied": N_("denied"),
    "ok": N_("ok"),
}


class Catalogues:
    def __init__(self) -> None:
        self._by_locale: dict[str, NullTranslations] = {"en": NullTranslations()}
        for locale in LANGUAGES:
            po_file = CATALOG_DIR / locale / "LC_MESSAGES" / "messages.po"
            if po_file.exists():
                self._by_locale[locale] = _load(po_file, locale)

    def get(self, locale: str) -> NullTranslations:
        return self._by_locale.get(locale, self._by_locale["en"])

    def gettext(self, message: str) -> str:
        return self.get(current_locale.get()).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.get(current_locale.get()).ngettext(singular, plural, n)


def _load(po_file: Path, locale: str) -> Translations:
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)
