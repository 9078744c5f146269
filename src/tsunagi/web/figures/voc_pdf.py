"""The monthly VOC report as a PDF (ReportLab, a Japanese TrueType font embedded).

The font is IPAex Gothic from Debian's ``fonts-ipaexfont-gothic`` (TrueType outlines:
ReportLab embeds TrueType, not the CFF outlines of the Noto CJK collections), found at
the paths below or named by ``TSUNAGI_VOC_FONT``. Lines are broken by
:mod:`tsunagi.figures.voc_layout` (kinsoku) with the font's own widths. Every text drawn
here was masked before it reached this module (:mod:`tsunagi.actions.figures.voc`).

Sections: volumes by category and month (contacts answered, from the figures; texts
read), top topics with their rank last month, phrases, rising topics, co-occurring terms,
top terms by category, representative verbatims, notable compliments and complaints,
actions taken (entered by a supervisor, and the wrap-up sub-reasons of the month).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from tsunagi.actions.figures.voc import VocMonth
from tsunagi.domain.errors import TsunagiError
from tsunagi.figures import voc
from tsunagi.figures.voc_layout import break_lines
from tsunagi.web.i18n import N_

FONT = "TsunagiJa"
FONT_PATHS = (
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf",
)
PAGE_W, PAGE_H = A4
MARGIN = 16 * mm
BODY = 9.0
LEADING = 1.45
INK = (0.13, 0.16, 0.2)
ACCENT = (0.11, 0.36, 0.58)
GREY = (0.45, 0.47, 0.5)

Gettext = Callable[[str], str]


class FontMissingError(TsunagiError):
    """No Japanese TrueType font for the PDF report."""


@lru_cache(maxsize=1)
def register_font() -> str:
    """Register the Japanese font once per process; returns the path used."""
    candidates = [os.environ.get("TSUNAGI_VOC_FONT", ""), *FONT_PATHS]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            pdfmetrics.registerFont(TTFont(FONT, candidate))
            return candidate
    raise FontMissingError(
        "no Japanese font for the VOC report: install Debian's fonts-ipaexfont-gothic "
        "or set TSUNAGI_VOC_FONT to a TrueType (.ttf) file"
    )


def _width(size: float) -> Callable[[str], float]:
    return lambda text: pdfmetrics.stringWidth(text, FONT, size)


class _Writer:
    """A cursor down A4 pages: headings, wrapped paragraphs, simple tables, bars."""

    def __init__(self, canvas: Canvas, footer: str) -> None:
        self.canvas = canvas
        self.footer = footer
        self.page = 1
        self.y = PAGE_H - MARGIN
        self.width = PAGE_W - 2 * MARGIN

    def _finish_page(self) -> None:
        c = self.canvas
        c.setFont(FONT, 7.5)
        c.setFillColorRGB(*GREY)
        c.drawString(MARGIN, MARGIN / 2, self.footer)
        c.drawRightString(PAGE_W - MARGIN, MARGIN / 2, str(self.page))

    def need(self, height: float) -> None:
        if self.y - height < MARGIN:
            self._finish_page()
            self.canvas.showPage()
            self.page += 1
            self.y = PAGE_H - MARGIN

    def close(self) -> None:
        self._finish_page()
        self.canvas.save()

    def text(
        self, text: str, *, size: float = BODY, color: tuple[float, ...] = INK, indent: float = 0
    ) -> None:
        lines = break_lines(text, self.width - indent, _width(size))
        for line in lines:
            self.need(size * LEADING)
            self.y -= size * LEADING
            self.canvas.setFont(FONT, size)
            self.canvas.setFillColorRGB(*color)
            self.canvas.drawString(MARGIN + indent, self.y + size * 0.3, line)

    def heading(self, text: str, size: float = 13) -> None:
        self.need(size * 3.2)
        self.y -= size * 0.9
        self.text(text, size=size, color=ACCENT)
        self.canvas.setStrokeColorRGB(*ACCENT)
        self.canvas.setLineWidth(0.6)
        self.canvas.line(MARGIN, self.y - 2, PAGE_W - MARGIN, self.y - 2)
        self.y -= size * 0.5

    def table(
        self, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]
    ) -> None:
        """Cells wrap within their column; numbers are right-aligned."""
        total = sum(widths)
        columns = [self.width * w / total for w in widths]
        size = BODY - 0.5
        numeric = [bool(rows) and all(_numeric(r[i]) for r in rows) for i in range(len(widths))]
        for index, row in enumerate([list(header), *[list(r) for r in rows]]):
            cells = [
                break_lines(cell, col - 4, _width(size)) or [""]
                for cell, col in zip(row, columns, strict=True)
            ]
            height = max(len(c) for c in cells) * size * LEADING + 3
            self.need(height)
            c = self.canvas
            if index == 0:
                c.setFillColorRGB(0.93, 0.95, 0.97)
                c.rect(MARGIN, self.y - height, self.width, height, stroke=0, fill=1)
            c.setFillColorRGB(*INK)
            c.setFont(FONT, size)
            x = MARGIN
            for column, (lines, col) in enumerate(zip(cells, columns, strict=True)):
                for line_no, line in enumerate(lines):
                    baseline = self.y - (line_no + 1) * size * LEADING + size * 0.35
                    if numeric[column]:
                        c.drawRightString(x + col - 6, baseline, line)
                    else:
                        c.drawString(x + (2 if column == 0 else 8), baseline, line)
                x += col
            c.setStrokeColorRGB(0.82, 0.84, 0.87)
            c.setLineWidth(0.4)
            c.line(MARGIN, self.y - height, PAGE_W - MARGIN, self.y - height)
            self.y -= height
        self.y -= 4

    def bars(self, items: Sequence[tuple[str, int]]) -> None:
        """Horizontal bars, one per label (this month's texts by category)."""
        top = max((value for _label, value in items), default=0) or 1
        label_w = self.width * 0.3
        for label, value in items:
            self.need(BODY * 1.8)
            self.y -= BODY * 1.8
            c = self.canvas
            c.setFont(FONT, BODY - 0.5)
            c.setFillColorRGB(*INK)
            shown = break_lines(label, label_w - 4, _width(BODY - 0.5))[0] if label else ""
            c.drawString(MARGIN, self.y + 3, shown)
            length = (self.width - label_w - 30) * value / top
            c.setFillColorRGB(*ACCENT)
            c.rect(MARGIN + label_w, self.y + 1, length, BODY, stroke=0, fill=1)
            c.setFillColorRGB(*INK)
            c.drawString(MARGIN + label_w + length + 3, self.y + 3, str(value))


def _numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace(".", "").replace("-", "").replace("+", "")
    return stripped.isdigit()


# Labels (extracted for translation; translated with the reader's locale).
L_TITLE = N_("Monthly VOC report")
L_MASKED = N_(
    "Personal data (names, phone numbers, e-mail addresses, addresses, member numbers) is masked."
)
L_TEXTS = N_("Texts analysed")
L_SOURCES = N_("Sources")
L_VOLUMES = N_("Volumes by category")
L_CONTACTS = N_("Contacts answered by month (figures)")
L_TEXTS_BY_CATEGORY = N_("Texts this month by category")
L_TOPICS = N_("Top topics and how they changed")
L_RANK = N_("Rank")
L_TERM = N_("Term")
L_TEXT_COUNT = N_("Texts")
L_LAST_MONTH = N_("Last month")
L_NEW = N_("new")
L_PHRASES = N_("Frequent phrases")
L_RISING = N_("Rising topics")
L_BEFORE = N_("Before")
L_RATIO = N_("Ratio")
L_NONE = N_("None this month.")
L_PAIRS = N_("Terms that appear together")
L_BY_CATEGORY = N_("Top terms by category")
L_VERBATIMS = N_("Representative verbatims")
L_COMPLIMENTS = N_("Notable compliments")
L_COMPLAINTS = N_("Notable complaints")
L_ACTIONS = N_("Actions taken")
L_OUTCOMES = N_("Wrap-up sub-reasons this month")
L_UNCATEGORISED = N_("(no category)")
L_CATEGORY = N_("Category")
L_SUB_REASON = N_("Sub-reason")
L_CONTACT_COUNT = N_("Contacts")
L_GENERATED = N_("Generated")
SOURCE_LABELS = {
    "note": N_("wrap-up note"),
    "chat": N_("chat"),
    "email": N_("email"),
    "sms": N_("SMS"),
    "survey": N_("survey comment"),
}


def render_pdf(
    month: VocMonth, *, tenant_name: str, gettext: Gettext, now: datetime | None = None
) -> bytes:
    """The month's VOC report as PDF bytes."""
    register_font()
    _ = gettext
    summary = month.summary
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=True)
    canvas.setTitle(f"{_(L_TITLE)} {summary.month}")
    canvas.setAuthor(tenant_name)
    writer = _Writer(canvas, f"{tenant_name} · {_(L_TITLE)} {summary.month}")

    def category_name(code: str) -> str:
        return month.categories.get(code, code) if code else _(L_UNCATEGORISED)

    writer.text(f"{_(L_TITLE)} {summary.month}", size=18, color=ACCENT)
    writer.text(tenant_name, size=11)
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    sources = "、".join(f"{_(SOURCE_LABELS[s])} {n}" for s, n in summary.sources.items())
    count = f"{summary.texts}"
    if month.available > summary.texts:  # an even sample of a large month
        count += f" / {month.available}"
    writer.text(f"{_(L_GENERATED)}: {stamp}   {_(L_TEXTS)}: {count}", color=GREY)
    if sources:
        writer.text(f"{_(L_SOURCES)}: {sources}", color=GREY)
    writer.text(_(L_MASKED), color=GREY)

    writer.heading(_(L_VOLUMES))
    writer.text(_(L_CONTACTS), size=BODY, color=GREY)
    months = [voc.shift_month(summary.month, -k) for k in range(5, -1, -1)]
    codes = sorted(set(month.contacts) | set(summary.volumes))
    rows = [
        [category_name(code), *(str(month.contacts.get(code, {}).get(m, 0)) for m in months)]
        for code in codes
        if any(month.contacts.get(code, {}).get(m, 0) for m in months)
    ]
    if rows:
        writer.table([_(L_CATEGORY), *months], rows, [3, *([1] * len(months))])
    else:
        writer.text(_(L_NONE))
    writer.text(_(L_TEXTS_BY_CATEGORY), color=GREY)
    writer.bars(
        [
            (category_name(code), counts.get(summary.month, 0))
            for code, counts in summary.volumes.items()
            if counts.get(summary.month, 0)
        ]
    )

    writer.heading(_(L_TOPICS))
    if summary.top:
        writer.table(
            [_(L_RANK), _(L_TERM), _(L_TEXT_COUNT), _(L_LAST_MONTH)],
            [
                [
                    str(t.rank),
                    t.display,
                    str(t.texts),
                    _(L_NEW)
                    if t.previous_rank is None
                    else f"{t.previous_rank} ({t.previous_texts})",
                ]
                for t in summary.top
            ],
            [1, 4, 1.2, 1.6],
        )
    else:
        writer.text(_(L_NONE))
    if summary.phrases:
        writer.text(_(L_PHRASES), size=10.5, color=ACCENT)
        writer.text("、".join(f"{p.display} ({p.texts})" for p in summary.phrases))

    writer.heading(_(L_RISING))
    if summary.rising:
        writer.table(
            [_(L_TERM), _(L_TEXT_COUNT), _(L_BEFORE), _(L_RATIO), "G²"],
            [
                [
                    r.display,
                    f"{r.texts}/{r.total}",
                    f"{r.texts_before}/{r.total_before}",
                    f"{r.ratio:.1f}",
                    f"{r.g2:.1f}",
                ]
                for r in summary.rising
            ],
            [4, 1.5, 1.5, 1, 1],
        )
    else:
        writer.text(_(L_NONE))
    if summary.pairs:
        writer.text(_(L_PAIRS), size=10.5, color=ACCENT)
        writer.text(
            "、".join(f"{p.a} × {p.b} ({p.texts}, PMI {p.pmi:.2f})" for p in summary.pairs[:10])
        )

    writer.heading(_(L_BY_CATEGORY))
    for code, terms in summary.categories.items():
        listed = "、".join(f"{t.display} ({t.texts})" for t in terms)
        writer.text(f"■ {category_name(code)}: {listed}")

    for title, items in (
        (L_VERBATIMS, summary.verbatims),
        (L_COMPLIMENTS, summary.compliments),
        (L_COMPLAINTS, summary.complaints),
    ):
        writer.heading(_(title))
        if not items:
            writer.text(_(L_NONE))
        for item in items:
            head = f"【{item.topic}】" if item.topic else ""
            writer.text(f"{head}「{item.text}」")
            where = _(SOURCE_LABELS.get(item.source, item.source))
            writer.text(
                f"— {where}, {category_name(item.category)}",
                size=BODY - 1,
                color=GREY,
                indent=12,
            )

    writer.heading(_(L_ACTIONS))
    for line in month.actions:
        writer.text(f"● {line}")
    if month.outcomes:
        writer.text(_(L_OUTCOMES), size=10.5, color=ACCENT)
        writer.table(
            [_(L_CATEGORY), _(L_SUB_REASON), _(L_CONTACT_COUNT)],
            [[category_name(c), reason, str(n)] for c, reason, n in month.outcomes[:20]],
            [3, 3, 1],
        )
    if not month.actions and not month.outcomes:
        writer.text(_(L_NONE))
    writer.close()
    return buffer.getvalue()
