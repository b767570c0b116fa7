"""Where the text sits on a flyer: OCR boxes -> deskewed pieces -> columns -> rows, in reading order.

Pure geometry, no words: :mod:`daskparse.extract.flyer_text` reads what the rows say.

- The photo's tilt is undone with the median baseline angle of the wide boxes.
- Columns: a flyer set in two columns (title on the left, the when and where on the right) has a wide
  vertical gutter no box crosses. Boxes that do cross it (a banner across the top) are read in their
  own band, above, between or below the columns. A narrow gutter is not a column break: a line-up's
  day labels stand a little apart from their rows and belong to them.
- Rows: boxes on one baseline and of similar type size, side by side, are one row (a line-up row is
  often OCR'd as three boxes). A small caption beside a big word is not in the big word's row.

    >>> rows = read_rows(lines)      # top to bottom, column by column
    >>> rows[0].text, rows[0].height, rows[0].column
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from typing import Optional, Sequence

# A gutter between columns is at least this share of the text's width wide (the gaps between a
# line-up's day labels and its rows measured 2-3 %, two-column flyers' gutters 12-20 %).
MIN_GUTTER = 0.05
# Boxes in one row: their heights within this ratio (a caption beside a headline is another row).
ROW_HEIGHT_RATIO = 0.5


@dataclass(frozen=True)
class TextLine:
    """One line of text as OCR read it. ``box`` is (x0, y0, x1, y1) in pixels; ``angle`` the tilt of
    its baseline in degrees (clockwise positive, image coordinates)."""

    text: str
    box: Optional[tuple[float, float, float, float]] = None
    confidence: float = 1.0
    angle: float = 0.0


@dataclass
class Piece:
    """One OCR box in deskewed page coordinates."""

    text: str
    top: float
    bottom: float
    left: float
    right: float
    confidence: float = 1.0
    typed: bool = False  # a typed line: no geometry, so no type size or position to read

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass
class Row:
    """Pieces on one baseline in one column, left to right."""

    pieces: list[Piece]
    column: int = 0
    texts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "  ".join(t for t in (self.texts or [p.text for p in self.pieces]) if t.strip())

    @property
    def top(self) -> float:
        return min(p.top for p in self.pieces)

    @property
    def bottom(self) -> float:
        return max(p.bottom for p in self.pieces)

    @property
    def left(self) -> float:
        return min(p.left for p in self.pieces)

    @property
    def right(self) -> float:
        return max(p.right for p in self.pieces)

    @property
    def height(self) -> float:
        """Type size: the tallest piece (a label beside a row is not smaller than the row's type)."""
        return max(p.height for p in self.pieces)

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


def tilt(lines: Sequence[TextLine]) -> float:
    """The page's tilt in radians: the median baseline angle of the wide boxes."""
    angles = [ln.angle for ln in lines if ln.box and (ln.box[2] - ln.box[0]) > 2 * (ln.box[3] - ln.box[1])]
    return math.radians(statistics.median(angles)) if angles else 0.0


def pieces(lines: Sequence[TextLine], texts: Sequence[str]) -> list[Piece]:
    """Boxes turned back by the page tilt (``texts``: the lines' texts as the caller cleaned them).
    Typed lines (no box) become one row each, equal height, in the given order."""
    angle = tilt(lines)
    cos, sin = math.cos(angle), math.sin(angle)
    out = []
    for index, (line, text) in enumerate(zip(lines, texts)):
        if line.box is None:
            out.append(Piece(text, index * 10.0, index * 10.0 + 8.0, 0.0, 100.0, line.confidence, typed=True))
            continue
        x0, y0, x1, y1 = line.box
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        rx, ry = cx * cos + cy * sin, -cx * sin + cy * cos
        # An upright box around a tilted line is taller than the line by width * sin(tilt).
        height = max((y1 - y0 - (x1 - x0) * abs(sin)) / cos, (y1 - y0) * 0.3)
        width = x1 - x0
        out.append(Piece(text, ry - height / 2, ry + height / 2, rx - width / 2, rx + width / 2, line.confidence))
    return out


def _gutter(items: list[Piece]) -> Optional[float]:
    """The x of the widest vertical gap no narrow box crosses, when it is wide enough to part columns."""
    if len(items) < 4:
        return None
    left, right = min(p.left for p in items), max(p.right for p in items)
    width = right - left
    # Only boxes with a neighbour beside them say where columns are: a centred heading above two
    # columns of text (a tour drawn side by side) crosses the gutter and is read as a band of its own.
    beside = [p for p in items if any(q is not p and min(p.bottom, q.bottom) - max(p.top, q.top) > 0.3 * min(p.height, q.height)
                                      and (q.left >= p.right or q.right <= p.left) for q in items)]
    narrow = [p for p in beside if p.width < 0.6 * width]
    spans = sorted((p.left, p.right) for p in narrow)
    best, best_gap = None, MIN_GUTTER * width
    reach = spans[0][1] if spans else right
    for start, end in spans[1:]:
        if start - reach > best_gap:
            best, best_gap = (reach + start) / 2, start - reach
        reach = max(reach, end)
    if best is None:
        return None
    sides = ([p for p in narrow if p.right <= best], [p for p in narrow if p.left >= best])
    if min(len(s) for s in sides) < 2:
        return None
    # A box crossing the gutter between the columns' rows (not a band above or below them): one column.
    top, bottom = min(p.top for p in narrow), max(p.bottom for p in narrow)
    if any(p.left < best < p.right and top < p.middle < bottom for p in items):
        return None
    # A table (a line-up's day | what | time) lines its cells up row by row: that is not two columns. Records
    # set side by side line up too, but their cells are alike (venue beside venue), a table's are not.
    fewer, other = sorted(sides, key=len)
    pairs = [(p, q) for p in fewer for q in other if _beside(p, q)]
    aligned = {id(p) for p, _ in pairs}
    alike = sum(1 for p, q in pairs if min(p.width, q.width) > 0.6 * max(p.width, q.width))
    if len(aligned) >= 0.6 * len(fewer) and alike < 0.7 * len(pairs):
        return None
    return best


def _beside(a: Piece, b: Piece) -> bool:
    """On one baseline, in like type (a table's cells; a two-column flyer's lines only meet by chance)."""
    small, big = sorted((a.height, b.height))
    return abs(a.middle - b.middle) < 0.25 * small and small > 0.6 * big


def _columns(items: list[Piece], depth: int = 0) -> list[list[Piece]]:
    """Pieces in reading order groups: bands of boxes crossing a gutter, and columns beside each other."""
    gutter = _gutter(items) if depth < 2 else None
    if gutter is None:
        return [items]
    crossing = sorted((p for p in items if p.left < gutter < p.right), key=lambda p: p.top)
    groups: list[list[Piece]] = []
    cut = -math.inf
    for band_end in [p.top for p in crossing] + [math.inf]:
        band = [p for p in items if not (p.left < gutter < p.right) and cut <= p.middle < band_end]
        if band:
            groups += _columns([p for p in band if p.right <= gutter], depth + 1)
            groups += _columns([p for p in band if p.left >= gutter], depth + 1)
        spanning = [p for p in crossing if p.top == band_end]
        if spanning:
            groups.append(spanning)
        cut = band_end
    return [g for g in groups if g]


def _same_row(piece: Piece, row: list[Piece]) -> bool:
    """Mostly the same height band, similar type, and side by side (neighbours' boxes may overlap a little)."""
    top, bottom = min(p.top for p in row), max(p.bottom for p in row)
    overlap = min(piece.bottom, bottom) - max(piece.top, top)
    if overlap <= 0.5 * min(piece.height, bottom - top):
        return False
    tallest = max(p.height for p in row)
    if min(piece.height, tallest) < ROW_HEIGHT_RATIO * max(piece.height, tallest):
        return False
    return all(min(piece.right, p.right) - max(piece.left, p.left) <= 0.4 * min(piece.width, p.width)
               for p in row)


def _drop_repeated_tail(text: str, following: str) -> str:
    """"Live Music 8" before "8:30pm" -> "Live Music": the tail the next box repeats."""
    for size in range(min(6, len(text), len(following)), 0, -1):
        tail = text[-size:]
        if text[-size - 1: -size] in (" ", "") and following.startswith(tail.strip()) and tail.strip():
            return text[:-size].rstrip()
    return text


def _rows(items: list[Piece], column: int) -> list[Row]:
    groups: list[list[Piece]] = []
    for piece in sorted(items, key=lambda p: p.top + p.bottom):
        row = next((g for g in reversed(groups[-3:]) if _same_row(piece, g)), None)
        if row is None:
            groups.append([piece])
        else:
            row.append(piece)
    rows = []
    for group in groups:
        group.sort(key=lambda p: p.left)
        texts = [group[0].text]
        for previous, piece in zip(group, group[1:]):
            if piece.left < previous.right:  # overlapping boxes may both hold the characters they share
                texts[-1] = _drop_repeated_tail(texts[-1], piece.text)
            texts.append(piece.text)
        rows.append(Row(group, column, texts))
    rows.sort(key=lambda r: r.middle)
    return rows


# A calendar tile: a weekday, a day number and a month stacked in a small box ("FRI" / "18" / "DEC").
_TILE_WORD = re.compile(r"(?i)^\W*(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|sept|"
                        r"oct|nov|dec)\.?\W*$|^\W*[0-3]?\d(?:st|nd|rd|th)?\W*$")


def _tiles(items: list[Piece]) -> list[Piece]:
    """Stacked tile words read as one piece, top to bottom ("FRI 18 DEC"), so a date set as a tile reads."""
    out: list[Piece] = []
    for piece in sorted(items, key=lambda p: p.top):
        if piece.typed or not _TILE_WORD.match(piece.text):
            out.append(piece)
            continue
        number = piece.text.strip()[:1].isdigit()
        above = next((t for t in reversed(out) if _TILE_WORD.match(t.text.split()[-1]) and not t.typed
                      and t.text.split()[-1][:1].isdigit() != number  # a word and a number take turns
                      and len(t.text.split()) < 3 and -0.3 * piece.height <= piece.top - t.bottom < 0.8 * piece.height
                      and min(t.right, piece.right) - max(t.left, piece.left) > 0.5 * min(t.width, piece.width)), None)
        if above is None:
            out.append(piece)
            continue
        above.text = f"{above.text} {piece.text}"
        above.left, above.right = min(above.left, piece.left), max(above.right, piece.right)
        above.bottom = piece.bottom
    return out


def read_rows(items: list[Piece]) -> list[Row]:
    """Rows in reading order: column by column (left, then right), each top to bottom."""
    rows: list[Row] = []
    items = _tiles(items)
    for column, group in enumerate(_columns(items)):
        rows += _rows(group, column)
    return rows
