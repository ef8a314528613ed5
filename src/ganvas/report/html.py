"""Small HTML building blocks for self-contained pages: escaping, tables, inline images, CSS.

Every page ganvas writes is one file that opens anywhere (a browser offline, an e-mail
attachment): images are ``data:`` URIs and the stylesheet is embedded. Text that comes from a run
folder is escaped; only :class:`Html` values, built here from escaped parts, are inserted raw.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from PIL import Image

from ganvas.utils.io import atomic_open


class Html(str):
    """A string of markup that is already safe: :func:`esc` leaves it as it is."""


def esc(value: Any) -> Html:
    """``value`` as text inside HTML (``<``, ``>``, ``&`` and quotes escaped)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(str(value), quote=True))


def join(parts: Iterable[Any]) -> Html:
    """Concatenate parts, escaping those that are not :class:`Html` yet."""
    return Html("".join(esc(p) for p in parts))


def tag(name: str, *children: Any, **attrs: Any) -> Html:
    """``<name attrs>children</name>``; ``cls`` becomes ``class``, attribute values are escaped."""
    rendered = "".join(f' {"class" if k == "cls" else k.replace("_", "-")}="{esc(v)}"'
                       for k, v in attrs.items() if v is not None)
    return Html(f"<{name}{rendered}>{join(children)}</{name}>")


def fmt(value: Any, digits: int = 4) -> str:
    """Numbers for tables: ``digits`` significant figures, thousands separators, ``–`` if none."""
    if value is None or value == "" or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10 ** digits else f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return ",".join(fmt(v, digits) for v in value)
    return str(value)


def duration(seconds: float | None) -> str:
    """``3 h 02 min``, ``4 min 05 s`` or ``12.3 s``."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = (),
          cls: str | None = None) -> Html:
    """A table; cells are escaped unless :class:`Html`; columns in ``numeric`` align right."""
    head = tag("tr", *(tag("th", h, cls="num" if i in numeric else None)
                       for i, h in enumerate(headers)))
    body = [tag("tr", *(tag("td", c, cls="num" if i in numeric else None)
                        for i, c in enumerate(row))) for row in rows]
    return tag("div", tag("table", tag("thead", head), tag("tbody", *body), cls=cls),
               cls="table-wrap")


def data_uri(payload: bytes, mime: str = "image/png") -> str:
    """Bytes as a ``data:`` URI, so the page needs no other file."""
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def shrunk_picture(path: Path, max_side: int) -> Image.Image | None:
    """A picture file shrunk to at most ``max_side`` pixels (box filter, like the eye), in L
    or RGB; None if unreadable. Sample grids of large runs are several megapixels."""
    try:
        with Image.open(path) as opened:
            picture = opened.convert("RGB" if opened.mode not in ("L", "RGB") else opened.mode)
    except (OSError, ValueError):
        return None
    if max(picture.size) > max_side:
        scale = max_side / max(picture.size)
        picture = picture.resize((max(1, round(picture.width * scale)),
                                  max(1, round(picture.height * scale))), Image.BOX)
    return picture


def image_uri(path: Path, max_side: int = 1024) -> str | None:
    """A picture file as a PNG data URI, shrunk to ``max_side`` pixels; None if unreadable
    (twenty full-size grids would make a page hundreds of megabytes)."""
    picture = shrunk_picture(path, max_side)
    if picture is None:
        return None
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return data_uri(buffer.getvalue())


def img(uri: str | None, alt: str, cls: str | None = None) -> Html:
    """An ``<img>`` (or a note saying the picture is missing)."""
    if uri is None:
        return tag("p", f"({alt}: not available)", cls="missing")
    return Html(f'<img src="{uri}" alt="{esc(alt)}"' + (f' class="{esc(cls)}"' if cls else "")
                + ">")


def section(title: str, *children: Any, anchor: str | None = None) -> Html:
    """A card with a heading; ``anchor`` makes it linkable as ``#anchor``."""
    return tag("section", tag("h2", title), *children, id=anchor, cls="card")


def page(title: str, *children: Any, subtitle: str | None = None) -> Html:
    """A complete HTML document with the embedded stylesheet."""
    header = tag("header", tag("h1", title), tag("p", subtitle) if subtitle else "")
    return Html("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"{tag('title', title)}<style>{STYLE}</style></head>"
                f"<body>{header}<main>{join(children)}</main>"
                "<footer>written by ganvas</footer></body></html>\n")


def write_html(path: str | os.PathLike, document: str) -> Path:
    """Write a page atomically (a reader never sees half of it)."""
    path = Path(path)
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(document)
    return path


# No pure black anywhere in the page's own colours: the browser test tells decoded sample grids
# (MNIST's black backgrounds) from text by that.
STYLE = """
:root { --ink: #1f2933; --muted: #5f6b7a; --line: #dde2e8; --accent: #2a6f97;
        --bg: #f3f5f8; --card: #fdfdfe; --warn-bg: #fff4e0; --warn: #8a4b00; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { background: var(--accent); color: #f6f9fc; padding: 22px 32px; }
header h1 { margin: 0; font-size: 24px; font-weight: 600; overflow-wrap: anywhere; }
header p { margin: 4px 0 0; opacity: .85; overflow-wrap: anywhere; }
main { max-width: 1160px; margin: 0 auto; padding: 20px 24px 40px; }
footer { text-align: center; color: var(--muted); font-size: 12px; padding: 0 0 24px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
        padding: 18px 22px; margin: 0 0 20px; box-shadow: 0 1px 2px rgba(31,41,51,.06); }
h2 { margin: 0 0 12px; font-size: 18px; font-weight: 600; }
h3 { margin: 16px 0 8px; font-size: 15px; font-weight: 600; color: var(--muted); }
.run { border-top: 4px solid var(--accent); }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
         gap: 10px; margin: 0 0 12px; }
.fact { background: var(--bg); border-radius: 8px; padding: 8px 12px; }
.fact b { display: block; font-size: 19px; font-weight: 600; }
.fact span { color: var(--muted); font-size: 12px; text-transform: uppercase;
             letter-spacing: .04em; }
.warning { background: var(--warn-bg); color: var(--warn); border-radius: 8px;
           padding: 8px 12px; margin: 6px 0; overflow-wrap: anywhere; }
.ok { color: #2d6a3e; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line);
         vertical-align: top; overflow-wrap: break-word; }
th { color: var(--muted); font-weight: 600; background: var(--bg); white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #f8f9fb; }
.config { columns: 2 420px; column-gap: 28px; }
.config > div { break-inside: avoid; margin-bottom: 12px; }
.protocol { color: var(--muted); font-size: 13px; overflow-wrap: anywhere; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
          gap: 14px; margin-top: 16px; }
.charts img { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.pair figure { margin: 0; text-align: center; }
.pair img { width: 100%; max-width: 520px; image-rendering: pixelated; border-radius: 4px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.strip { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
         gap: 10px; }
.strip figure { margin: 0; text-align: center; }
.strip img { width: 100%; image-rendering: pixelated; border-radius: 4px; }
.missing { color: var(--muted); font-style: italic; }
details summary { cursor: pointer; color: var(--accent); margin: 4px 0 8px; }
code { background: var(--bg); padding: 1px 5px; border-radius: 4px; }
"""
