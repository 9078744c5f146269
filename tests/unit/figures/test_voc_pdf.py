"""The monthly VOC report PDF from hand-written texts: Japanese text comes back out of it
(pypdf), masked values do not, long Japanese lines wrap inside the page with kinsoku, and
a page turned into an image (poppler's pdftoppm) has ink where the text is."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from tsunagi.actions.figures.voc import VocMonth
from tsunagi.figures import voc
from tsunagi.figures.voc_layout import NO_LINE_START
from tsunagi.figures.voc_text import mask
from tsunagi.web.figures.voc_pdf import register_font, render_pdf
from tsunagi.web.i18n import Catalogues

LONG = (
    "配送が大幅に遅れて、冷凍のお弁当が溶けてしまいました。箱も破損していて本当に困ります。"
    "次回からは配達時間を守っていただけますか。よろしくお願いいたします。" * 2
)
RAW = [
    ("2026-09", "delivery", "note", "配送日の変更"),
    ("2026-10", "delivery", "chat", "配送が遅れています。山田太郎です、電話は090-1234-5678です。"),
    ("2026-10", "delivery", "email", LONG),
    ("2026-10", "billing", "chat", "コープでんきの料金明細が分かりにくいです。hanako@example.jp"),
    ("2026-10", "product", "chat", "お弁当がとても美味しかったです、ありがとうございます。"),
]


def _report(lang: str) -> bytes:
    texts = [
        voc.VocText(f"k{i}", month, category, source, mask(text))
        for i, (month, category, source, text) in enumerate(RAW)
    ]
    month = VocMonth(
        summary=voc.summarise(voc.documents(texts), "2026-10", min_texts=1),
        contacts={"delivery": {"2026-09": 10, "2026-10": 14}},
        categories={"delivery": "配送", "billing": "料金・支払", "product": "商品"},
        outcomes=[("delivery", "再配達", 3)],
        actions=["配送業者と遅延の原因を確認し、集荷時刻を30分早めた"],
    )
    return render_pdf(
        month,
        tenant_name="いずみ市民生協",
        gettext=Catalogues().get(lang).gettext,
        now=datetime(2026, 11, 2, tzinfo=UTC),
    )


def test_pdf_text_is_japanese_and_masked() -> None:
    assert Path(register_font()).is_file()
    content = _report("ja")
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    squeezed = "".join(text.split())
    for expected in (
        "月次VOCレポート2026-10",
        "上位の話題と前月からの変化",
        "お弁当がとても美味しかったです、ありがとうございます。",
        "配送業者と遅延の原因を確認し、集荷時刻を30分早めた",
        "再配達",
    ):
        assert expected in squeezed, expected
    for secret in ("山田", "太郎", "090", "5678", "hanako", "example.jp"):
        assert secret not in text
    assert "[NAME]" in text and "[PHONE]" in text
    fonts = reader.pages[0]["/Resources"]["/Font"]
    embedded = [fonts[name].get_object() for name in fonts]
    # The Japanese TrueType font is embedded as a subset (AAAAAA+IPAexGothic).
    assert any(f["/Subtype"] == "/TrueType" and "+" in str(f["/BaseFont"]) for f in embedded)
    english = "".join(p.extract_text() for p in PdfReader(io.BytesIO(_report("en"))).pages)
    assert "Monthly VOC report 2026-10" in english and "お弁当" in "".join(english.split())


def test_long_japanese_lines_wrap_with_kinsoku() -> None:
    reader = PdfReader(io.BytesIO(_report("ja")))
    lines = [
        line.strip()
        for page in reader.pages
        for line in page.extract_text().splitlines()
        if line.strip()
    ]
    squeezed = "".join("".join(lines).split())
    assert LONG[:60] in squeezed  # the long complaint is there…
    assert not any(LONG[:60] in line for line in lines)  # …over several lines
    assert not [line for line in lines if line[0] in NO_LINE_START]


def test_pdf_page_becomes_an_image_with_ink(tmp_path: Path) -> None:
    pdf = tmp_path / "voc.pdf"
    pdf.write_bytes(_report("ja"))
    tool = shutil.which("pdftoppm")
    assert tool is not None, "poppler-utils: scripts/services.d/fonts.sh installs it"
    subprocess.run(
        [tool, "-r", "50", "-f", "1", "-l", "1", "-gray", str(pdf), str(tmp_path / "p")], check=True
    )
    (image,) = tmp_path.glob("p*.pgm")
    data = image.read_bytes()
    width, height = _pgm_size(data)
    pixels = data[-width * height :]
    dark = sum(1 for value in pixels if value < 128)
    assert width > 300 and height > 400
    assert dark > 2000  # title, tables and Japanese text, not a blank page


def _pgm_size(data: bytes) -> tuple[int, int]:
    fields = data.split(maxsplit=4)
    assert fields[0] == b"P5"
    return int(fields[1]), int(fields[2])


def test_a_missing_font_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tsunagi.web.figures import voc_pdf

    monkeypatch.setattr(voc_pdf, "FONT_PATHS", ())
    monkeypatch.setenv("TSUNAGI_VOC_FONT", str(tmp_path / "none.ttf"))
    register_font.cache_clear()
    try:
        with pytest.raises(voc_pdf.FontMissingError, match="fonts-ipaexfont-gothic"):
            register_font()
    finally:
        register_font.cache_clear()
