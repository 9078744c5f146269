"""Our own XSS corpus: vectors × wrappers, each payload calling ``pwned(n)`` if it ever runs.

The vectors cover script elements, event handlers on many tags, ``javascript:`` and
``data:`` URLs, SVG/MathML parser switches, attribute and element breakouts, template and
JS-string injection, case and entity tricks. The wrappers put them at the start, middle
and end of Japanese and English text, across lines, and pre-escaped (which must stay text,
not be unescaped into markup).
"""

from __future__ import annotations

import html

VECTORS = (
    "<script>pwned({n})</script>",
    "<img src=x onerror=pwned({n})>",
    "<IMG SRC=x ONERROR=pwned({n})>",
    "<img src=x oNeRrOr=pwned({n})>",
    "<svg onload=pwned({n})>",
    "<svg/onload=pwned({n})>",
    "<svg><script>pwned({n})</script></svg>",
    '<iframe src="javascript:pwned({n})"></iframe>',
    '<iframe srcdoc="<script>parent.pwned({n})</script>"></iframe>',
    '<a href="javascript:pwned({n})" id=x{n}>click</a>',
    "<body onload=pwned({n})>",
    "<details open ontoggle=pwned({n})>",
    "<input autofocus onfocus=pwned({n})>",
    "<video><source onerror=pwned({n})></video>",
    "<audio src=x onerror=pwned({n})>",
    '"><img src=x onerror=pwned({n})>',
    "'><svg onload=pwned({n})>",
    "</textarea><img src=x onerror=pwned({n})>",
    "</script><script>pwned({n})</script>",
    "</title><script>pwned({n})</script>",
    "<math><mtext><table><mglyph><style><img src=x onerror=pwned({n})>",
    '<object data="javascript:pwned({n})"></object>',
    '<embed src="javascript:pwned({n})">',
    "<marquee onstart=pwned({n})>x</marquee>",
    '<div style="width:expression(pwned({n}))">',
    "{{{{constructor.constructor('pwned({n})')()}}}}",
    "${{pwned({n})}}",
    '<img src=x onerror="&#112;wned({n})">',
    "<img src=x onerror=pwned`{n}`>",
    "<form><button formaction=javascript:pwned({n})>x</button></form>",
    '<meta http-equiv="refresh" content="0;url=javascript:pwned({n})">',
    '<base href="javascript:pwned({n})//">',
    "<x contenteditable autofocus onfocusin=pwned({n})>x</x>",
    '<style>*{{background:url("javascript:pwned({n})")}}</style>',
    '<a href="data:text/html,<script>parent.pwned({n})</script>">x</a>',
    "<img src=\"x\" onerror=\"window['pw'+'ned']({n})\">",
    '";pwned({n});//',
    "';pwned({n});//",
    '<noscript><p title="</noscript><img src=x onerror=pwned({n})>">',
    "<template><img src=x onerror=pwned({n})></template>",
)

WRAPPERS = (
    "{v}",
    "こんにちは{v}",
    "{v}お願いします",
    "line one\n{v}\nline three",
    "配送について {v} よろしく",
    "Re: {v}",
    "{escaped}",
    "<b>{v}</b>",
)


def payloads() -> list[str]:
    """Every vector in every wrapper, numbered so a run names the payload that ran."""
    found: list[str] = []
    for wrapper in WRAPPERS:
        for vector in VECTORS:
            n = len(found)
            raw = vector.format(n=n)
            found.append(wrapper.format(v=raw, escaped=html.escape(raw)))
    return found
