"""The event catalogue people read is the one the code defines."""

from __future__ import annotations

from pathlib import Path

from tsunagi.domain.events import event_classes
from tsunagi.web.docs import event_catalogue_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "api" / "events.md"


def test_the_catalogue_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == event_catalogue_markdown(), (
        "docs/api/events.md is stale: run `tsunagi docs events > docs/api/events.md`"
    )


def test_every_event_is_a_noun_and_a_past_verb_with_a_resource() -> None:
    event_catalogue_markdown()  # imports every event module
    classes = event_classes()
    assert "user.created" in classes
    assert "contact.created" in classes
    for name, cls in classes.items():
        noun, _, verb = name.partition(".")
        assert noun, name
        assert verb.endswith(("ed", "_out", "_in")) or verb in {"held", "sent", "taken"}, name
        assert isinstance(cls.resource, str), name
        assert cls.resource, name
