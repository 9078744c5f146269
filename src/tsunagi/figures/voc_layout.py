"""Line breaking for Japanese and mixed text in the VOC report (禁則処理, kinsoku).

Japanese may break between any two characters except that a line must not *start* with
closing brackets, 、。, small kana, the prolonged-sound mark or ！？ (行頭禁則) and must not
*end* with an opening bracket (行末禁則). Latin words break only at spaces (a word longer
than the line is cut). When a break would violate a rule, the character before it moves
to the next line with it (追い出し, push-out), so lines never exceed the width.

``measure`` gives the width of a string in the output font, so this module stays free of
any PDF library; tests use ``len``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

NO_LINE_START = frozenset(
    "、。，．,.）)]｝}〕〉》」』】〙〗〟’”｠»ゝゞーァィゥェォッャュョヮヵヶぁぃぅぇぉっゃゅょゎゕゖ"
    "‐゠–〜～?!？！‼⁇⁈⁉・:;：；/…‥%％"
)
NO_LINE_END = frozenset("（([｛{〔〈《「『【〘〖〝‘“｟«")

_UNIT = re.compile(r"[0-9A-Za-z\u00c0-\u024f'’\-_.,:;!?%@/#\[\]]+ *| +|.", re.DOTALL)


def _units(paragraph: str) -> list[str]:
    """Unbreakable pieces: a Latin word with its trailing spaces, or one other character."""
    return _UNIT.findall(paragraph)


def _split_long(unit: str, width: float, measure: Callable[[str], float]) -> list[str]:
    pieces: list[str] = []
    current = ""
    for ch in unit:
        if current and measure(current + ch) > width:
            pieces.append(current)
            current = ""
        current += ch
    return [*pieces, current] if current else pieces


def break_lines(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """``text`` in lines no wider than ``width`` (newlines kept, kinsoku applied)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(_paragraph(paragraph, width, measure))
    return lines


def _paragraph(paragraph: str, width: float, measure: Callable[[str], float]) -> list[str]:
    units: list[str] = []
    for unit in _units(paragraph):
        units.extend(_split_long(unit, width, measure) if measure(unit) > width else [unit])
    lines: list[list[str]] = [[]]
    for unit in units:
        line = lines[-1]
        if not line or measure("".join(line) + unit.rstrip()) <= width:
            if line or unit.strip():  # no leading blanks
                line.append(unit)
            continue
        carried: list[str] = []
        # 行頭禁則: the unit may not start a line; 行末禁則: the line may not end so.
        while len(line) > 1 and (
            (carried or [unit])[0][0] in NO_LINE_START or line[-1][-1] in NO_LINE_END
        ):
            carried.insert(0, line.pop())
        if unit.strip() or carried:
            lines.append([*carried, unit] if unit.strip() else carried)
        else:
            lines.append([])
    return ["".join(line).rstrip() for line in lines]
