"""Images that are not event flyers, for measuring how often the offline extractor invents shows.

A user's folder of "flyers" also holds shop receipts, menus, screenshots of chats, memes, holiday photos.
None of them announces a show, yet most carry the things a flyer parser keys on: times ("15:44",
"9:41"), weekdays ("Mon-Fri 11am-10pm"), dates, street addresses, names in large type. Each kind below
is drawn with Pillow and the fonts of :mod:`daskparse.testing.flyers`, at phone-photo sizes, with its
own wording (none of it taken from a real document); ``photo=True`` photographs it the way the flyer
generator does (tilt, keystone, uneven light, blur, noise, JPEG).

``make_nonflyer(seed)`` is a pure function of its arguments; the kind is ``KINDS[seed % len(KINDS)]``
unless given, so consecutive seeds give every kind equally often. ``lines`` is every text run drawn,
top to bottom (empty for a photo without text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from daskparse.testing.flyers import (FONT_SETS, SURFACES, hsv, load_font, ordinal, photo_variant, pick,
                                      text_color)

__all__ = ["KINDS", "NonFlyer", "make_nonflyer"]

KINDS = ("receipt", "menu", "text_page", "chat", "meme", "photo", "poster", "store_hours", "business_card")


@dataclass
class NonFlyer:
    image: Image.Image  # RGB
    kind: str
    lines: list[str]  # text runs as drawn, top to bottom ([] for a photo without text)


# ---------------------------------------------------------------------------------------------------
# Wording (invented; addresses use real city/state/ZIP triples)
# ---------------------------------------------------------------------------------------------------

CITIES = (
    ("Springfield", "IL", "62701"), ("Columbus", "OH", "43215"), ("Boise", "ID", "83702"),
    ("Albany", "NY", "12207"), ("Sacramento", "CA", "95814"), ("Omaha", "NE", "68102"),
    ("Tulsa", "OK", "74103"), ("Spokane", "WA", "99201"), ("Providence", "RI", "02903"),
    ("Lexington", "KY", "40507"), ("Fargo", "ND", "58102"), ("Eugene", "OR", "97401"),
    ("Flagstaff", "AZ", "86001"), ("Duluth", "MN", "55802"), ("Charleston", "SC", "29401"),
    ("Santa Fe", "NM", "87501"), ("Missoula", "MT", "59802"), ("Burlington", "VT", "05401"),
    ("Greenville", "SC", "29601"), ("Ann Arbor", "MI", "48104"), ("Chattanooga", "TN", "37402"),
    ("Rochester", "NY", "14604"), ("Wichita", "KS", "67202"), ("Anchorage", "AK", "99501"),
)  # fmt: skip
STREET_NAMES = ("Main", "Oak", "Maple", "Cedar", "Elm", "Pine", "Lake", "Hill", "Church", "Market", "Broad",
                "Center", "Union", "Water", "River", "Franklin", "Jackson", "Highland", "Grant", "Walnut",
                "Chestnut", "Spruce", "Poplar", "Sycamore", "Lincoln", "Jefferson", "Madison", "Forest",
                "Meadow", "Ridge", "Prospect", "Summit", "Orchard", "Willow", "Birch", "Aspen")
STREET_SUFFIXES = ("St", "Street", "Ave", "Avenue", "Blvd", "Rd", "Road", "Dr", "Drive", "Ln", "Way", "Pkwy",
                   "Ct", "Pl")
DIRECTIONS = ("N", "S", "E", "W", "North", "South", "East", "West")
FIRST_NAMES = ("Maria", "James", "Priya", "Luis", "Hannah", "Marcus", "Aiko", "Daniel", "Fatima", "Owen",
               "Grace", "Tomas", "Keisha", "Noah", "Elena", "Sam", "Chloe", "Andre", "Mei", "Jonah", "Rosa",
               "Victor", "Leah", "Omar", "Claire", "Ben", "Nadia", "Eli")
LAST_NAMES = ("Okafor", "Lindqvist", "Ramirez", "Chen", "Patel", "Brennan", "Kowalski", "Nguyen", "Haddad",
              "Fischer", "Moreau", "Tanaka", "Oduya", "Sullivan", "Varga", "Delgado", "Whitfield", "Kaur",
              "Novak", "Ellison", "Rossi", "Abernathy")
MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _street(rng: np.random.Generator) -> str:
    number = int(rng.integers(1, 9999)) if rng.random() < 0.8 else int(rng.integers(10000, 48000))
    direction = f"{pick(rng, DIRECTIONS)} " if rng.random() < 0.3 else ""
    name = pick(rng, STREET_NAMES) if rng.random() < 0.8 else ordinal(int(rng.integers(2, 60)))
    return f"{number} {direction}{name} {pick(rng, STREET_SUFFIXES)}"


def _city_line(rng: np.random.Generator) -> str:
    city, state, zip_ = pick(rng, CITIES)
    return f"{city}, {state} {zip_}"


def _phone(rng: np.random.Generator, style: int | None = None) -> str:
    area = int(rng.integers(201, 990))
    line = f"{int(rng.integers(100, 200)):04d}"  # 555-0100..0199: numbers set aside for fiction
    style = int(rng.integers(3)) if style is None else style
    return (f"({area}) 555-{line}", f"{area}-555-{line}", f"{area}.555.{line}")[style]


def _person(rng: np.random.Generator) -> str:
    return f"{pick(rng, FIRST_NAMES)} {pick(rng, LAST_NAMES)}"


def _clock(rng: np.random.Generator, hours: tuple[int, int] = (7, 22), *, style: int | None = None) -> str:
    hour, minute = int(rng.integers(*hours)), int(rng.integers(60))
    style = int(rng.integers(3)) if style is None else style
    if style == 0:
        return f"{hour:02d}:{minute:02d}"
    suffix = "AM" if hour < 12 else "PM"
    clock = f"{hour % 12 or 12}:{minute:02d}"
    return f"{clock} {suffix}" if style == 1 else f"{clock}{suffix.lower()}"


def _slug(name: str) -> str:
    return "".join(c for c in name.lower().replace("&", "and") if c.isalnum())


# ---------------------------------------------------------------------------------------------------
# Drawing helpers
# ---------------------------------------------------------------------------------------------------

DISPLAY_FONTS = FONT_SETS["all"]["display"]
BODY_FONTS = FONT_SETS["all"]["body"]
MONO_FONTS = ("DejaVuSansMono", "DejaVuSansMono-Bold", "cmtt10")  # cmtt10 for ASCII-only receipts
PHONE_PHOTO_SIZES = ((1000, 1400), (1080, 1440), (1200, 1600), (1500, 2000), (1536, 2048), (1800, 2400))
LANDSCAPE_PHOTO_SIZES = ((1400, 1000), (1600, 1200), (2048, 1536), (2000, 1500), (2400, 1800), (1920, 1280))
SCREENSHOT_SIZES = ((1080, 1920), (1080, 2340), (1242, 2208), (1125, 2400), (1170, 2400))
# Smallest text, in pixels once the image is fit into 1200x800 (long x short side) as the optimizer does.
MIN_TEXT_PX = 26


def _fit_scale(size: tuple[int, int]) -> float:
    """Original pixels per pixel after the optimizer fits the image into 1200 x 800 (long x short)."""
    long_side, short_side = max(size), min(size)
    return max(long_side / 1200, short_side / 800, 1.0)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Greedy word wrap to ``width`` pixels (a word longer than the width gets a line of its own)."""
    lines, current = [], ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and font.getlength(trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return lines + [current] if current else lines


def _fit_font(name: str, texts: list[str], width: float, px: float, min_px: float) -> ImageFont.FreeTypeFont:
    """The largest size <= px (and >= min_px) at which every text fits in ``width``."""
    px = max(px, min_px)
    font = load_font(name, round(px))
    while px > min_px and max(font.getlength(t) for t in texts) > width:
        px = max(min_px, px * 0.94)
        font = load_font(name, round(px))
    return font


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent


@dataclass
class _Page:
    """An image and every text run drawn on it (kept in the order drawn; sorted top to bottom at the end)."""

    image: Image.Image
    runs: list[tuple[float, float, str]] = field(default_factory=list)  # (y as drawn, left, text)

    def __post_init__(self):
        self.draw = ImageDraw.Draw(self.image)

    def text(self, xy: tuple[float, float], text: str, font: ImageFont.FreeTypeFont, fill, *,
             anchor: str = "la", stroke: int = 0, stroke_fill=None) -> tuple[float, float, float, float]:
        self.draw.text(xy, text, font=font, fill=fill, anchor=anchor, stroke_width=stroke, stroke_fill=stroke_fill)
        box = self.draw.textbbox(xy, text, font=font, anchor=anchor, stroke_width=stroke)
        self.runs.append((xy[1], box[0], text))
        return box

    def row(self, y: float, left: str, right: str, font, fill, x0: float, x1: float) -> None:
        """A left text and a right-aligned one (a price, an hour) on the same line."""
        if left:
            self.text((x0, y), left, font, fill)
        if right:
            self.text((x1, y), right, font, fill, anchor="ra")

    def lines(self) -> list[str]:
        # Runs drawn at the same height (a row's left and right parts) read left to right.
        ordered = sorted(self.runs, key=lambda r: (r[0], r[1]))
        out: list[str] = []
        rows: list[list[tuple[float, float, str]]] = []
        for top, left, text in ordered:
            if rows and abs(top - rows[-1][0][0]) < 2:
                rows[-1].append((top, left, text))
            else:
                rows.append([(top, left, text)])
        for row in rows:
            out += [text for _, _, text in sorted(row, key=lambda r: r[1])]
        return out


def _smooth_noise(rng: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth random field in [0, 1] at full size: a cells x cells grid upscaled bicubically."""
    width, height = size
    grid = rng.random((max(2, round(cells * height / width)), cells)).astype(np.float32)
    field_ = np.asarray(Image.fromarray(grid, "F").resize(size, Image.Resampling.BICUBIC))
    return np.clip(field_, 0, 1)


def _fractal_noise(rng: np.random.Generator, size: tuple[int, int], octaves: int = 4) -> np.ndarray:
    total, weight = np.zeros((size[1], size[0]), np.float32), 0.0
    for octave in range(octaves):
        amplitude = 0.5**octave
        total += amplitude * _smooth_noise(rng, size, 4 * 2**octave)
        weight += amplitude
    total /= weight
    return (total - total.min()) / max(float(np.ptp(total)), 1e-6)


def _blend(field_: np.ndarray, a: tuple[int, ...], b: tuple[int, ...]) -> Image.Image:
    pixels = np.array(a, np.float32) * (1 - field_[..., None]) + np.array(b, np.float32) * field_[..., None]
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")


def _surface(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A table or counter top for a paper to lie on: a colour with soft blotches, sometimes wood grain.
    Drawn at a quarter of the size and enlarged: it is smooth, and full size costs ~0.4 s."""
    small = (max(size[0] // 4, 8), max(size[1] // 4, 8))
    base = np.array(pick(rng, SURFACES), np.float32)
    darker = tuple(int(c) for c in np.clip(base * rng.uniform(0.65, 0.85), 0, 255))
    noise = _fractal_noise(rng, small, 3)
    if rng.random() < 0.5:  # wood: noise bent into stripes
        ys = np.arange(small[1], dtype=np.float32)[:, None]
        stripes = 0.5 + 0.5 * np.sin(ys / (small[1] * rng.uniform(0.008, 0.02)) + 6 * noise)
        noise = 0.6 * stripes + 0.4 * noise
    return _blend(noise, tuple(int(c) for c in base), darker).resize(size, Image.Resampling.BILINEAR)


def _picture(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Something that looks like a photo or a drawing at a glance, with no text in it."""
    width, height = size
    style = pick(rng, ("landscape", "abstract", "clouds", "bokeh", "tiles", "wood"))
    if style == "landscape":
        sky = np.linspace(0, 1, height, dtype=np.float32)[:, None] * np.ones((1, width), np.float32)
        image = _blend(sky, hsv(rng.uniform(0.5, 0.7), 0.6, 0.7), hsv(rng.uniform(0.0, 0.15), 0.4, 0.95))
        draw = ImageDraw.Draw(image)
        sun = (rng.uniform(0.2, 0.8) * width, rng.uniform(0.15, 0.45) * height, rng.uniform(0.04, 0.09) * width)
        draw.ellipse((sun[0] - sun[2], sun[1] - sun[2], sun[0] + sun[2], sun[1] + sun[2]),
                     fill=hsv(rng.uniform(0.08, 0.15), 0.5, 1.0))
        for layer in range(3):  # mountain ridges, nearer ones lower and darker
            base_y = height * (0.45 + 0.15 * layer)
            xs = np.linspace(0, width, 40)
            ys = base_y + np.cumsum(rng.normal(0, height * 0.02, 40))
            color = hsv(rng.uniform(0.25, 0.45), 0.5, 0.5 - 0.13 * layer)
            draw.polygon([(0, height)] + list(zip(xs.tolist(), ys.tolist())) + [(width, height)], fill=color)
        return image.filter(ImageFilter.GaussianBlur(_fit_scale(size) * 0.8))
    if style == "abstract":
        image = Image.new("RGB", size, hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.95)))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(8, 30))):
            cx, cy, r = rng.random() * width, rng.random() * height, rng.uniform(0.03, 0.3) * min(size)
            color = hsv(rng.random(), rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0))
            shape = int(rng.integers(3))
            if shape == 0:
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=color)
            elif shape == 1:
                draw.rectangle((cx - r, cy - r * 0.6, cx + r, cy + r * 0.6), fill=color)
            else:
                turn = rng.uniform(0, 2 * math.pi)
                draw.polygon([(cx + r * math.cos(turn + k * 2.094), cy + r * math.sin(turn + k * 2.094))
                              for k in range(3)], fill=color)
        return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 3) * _fit_scale(size)))
    if style == "clouds":
        hue = rng.random()
        return _blend(_fractal_noise(rng, size, 5), hsv(hue, 0.5, 0.35), hsv(hue + 0.1, 0.2, 0.95))
    if style == "bokeh":
        background = _blend(_smooth_noise(rng, size, 3), hsv(rng.random(), 0.6, 0.12), hsv(rng.random(), 0.6, 0.3))
        glow = Image.new("RGB", size, (0, 0, 0))
        draw = ImageDraw.Draw(glow)
        for _ in range(int(rng.integers(20, 60))):
            cx, cy, r = rng.random() * width, rng.random() * height, rng.uniform(0.015, 0.06) * min(size)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=hsv(rng.random(), 0.5, rng.uniform(0.3, 0.8)))
        glow = glow.filter(ImageFilter.GaussianBlur(0.01 * min(size)))
        return Image.fromarray(np.clip(np.asarray(background, np.int16) + np.asarray(glow, np.int16), 0, 255)
                               .astype(np.uint8), "RGB")
    if style == "tiles":
        tile = int(rng.uniform(0.05, 0.15) * min(size))
        grout = hsv(rng.random(), 0.1, rng.uniform(0.6, 0.9))
        image = Image.new("RGB", size, grout)
        draw = ImageDraw.Draw(image)
        hue = rng.random()
        for y in range(0, height, tile):
            for x in range(0, width, tile):
                color = hsv(hue + rng.normal(0, 0.03), rng.uniform(0.3, 0.6), rng.uniform(0.5, 0.8))
                draw.rectangle((x + 3, y + 3, x + tile - 3, y + tile - 3), fill=color)
        return image
    return _surface(rng, size)


# ---------------------------------------------------------------------------------------------------
# Kinds
# ---------------------------------------------------------------------------------------------------

SHOPS = {
    "grocery": (("Greenleaf Market", "Harvest Co-op", "Maple Street Grocers", "Sunny Acres Foods",
                 "Corner Basket Market"),
                ("ORGANIC BANANAS", "WHOLE MILK 1GAL", "SOURDOUGH LOAF", "LARGE EGGS DOZ", "CHEDDAR BLOCK",
                 "BABY SPINACH", "HONEYCRISP APPLE", "GROUND COFFEE", "OLIVE OIL 500ML", "PASTA PENNE",
                 "TOMATO SAUCE", "GREEK YOGURT", "AVOCADO", "ROLLED OATS", "SPARKLING WATER", "BROWN RICE 2LB")),
    "hardware": (("Corner Hardware Co.", "Ridgeline Hardware", "Tool Shed Supply", "Birch Lumber & Hardware"),
                 ("WOOD SCREWS #8", "PAINTERS TAPE", "LED BULB 60W EQ", "EXT CORD 25FT", "WORK GLOVES L",
                  "WD-40 8OZ", "PVC ELBOW 1/2IN", "SANDPAPER 120G", "DUCT TAPE", "HOSE NOZZLE", "ZIP TIES 100PK",
                  "CAULK WHITE")),
    "pharmacy": (("Sunrise Pharmacy", "Northgate Drug", "Wellway Pharmacy"),
                 ("IBUPROFEN 200MG", "VITAMIN D3", "BANDAGES 30CT", "TOOTHPASTE", "HAND LOTION", "COUGH DROPS",
                  "SUNSCREEN SPF50", "TISSUES 3PK", "SHAMPOO 12OZ", "GREETING CARD")),
    "cafe": (("Hilltop Coffee Roasters", "The Daily Grind", "Bluebird Cafe", "Little Italy Deli",
              "Rosemary Kitchen"),
             ("LATTE 16OZ", "CAPPUCCINO", "DRIP COFFEE", "BLUEBERRY MUFFIN", "CROISSANT", "BREAKFAST BURRITO",
              "TURKEY CLUB", "SOUP OF THE DAY", "ICED TEA", "BAGEL W/ CREAM CHEESE", "CHAI LATTE", "SCONE")),
    "fuel": (("QuickStop Fuel & Food", "Prairie Gas & Go", "Lakeside Fuel Mart"),
             ("UNLEADED 12.412 GAL", "ENERGY DRINK", "BEEF JERKY", "BOTTLED WATER", "SUNFLOWER SEEDS",
              "CAR WASH BASIC", "COFFEE 20OZ", "CANDY BAR")),
}
RECEIPT_FOOTERS = (
    "THANK YOU FOR SHOPPING WITH US!", "Thank you! Please come again", "THANK YOU", "Thanks for visiting!",
    "Returns within 30 days with receipt", "Keep this receipt for your records", "No refunds on sale items",
    "Save 10% with our rewards card", "Tell us how we did!",
)  # fmt: skip


def _receipt(rng: np.random.Generator) -> tuple[Image.Image, list[str]]:
    size = pick(rng, PHONE_PHOTO_SIZES)
    width, height = size
    scale = _fit_scale(size)
    shop_type = pick(rng, tuple(SHOPS))
    names, goods = SHOPS[shop_type]
    shop = pick(rng, names)
    paper_w = width * rng.uniform(0.8, 0.92)
    x0 = (width - paper_w) / 2
    page = _Page(_surface(rng, size))
    page.draw.rectangle((x0, -10, x0 + paper_w, height + 10), fill=hsv(rng.uniform(0.08, 0.15),
                        rng.uniform(0.0, 0.06), rng.uniform(0.93, 1.0)))
    font_name = pick(rng, MONO_FONTS)
    margin = paper_w * 0.06
    left, right = x0 + margin, x0 + paper_w - margin
    font = _fit_font(font_name, ["M" * 32], right - left, 60 * scale, MIN_TEXT_PX * scale)
    big_name = "DejaVuSansMono-Bold" if font_name.startswith("DejaVu") else font_name
    big = _fit_font(big_name, [shop.upper()], right - left, font.size * 1.35, font.size)
    ink = (int(rng.integers(10, 60)),) * 3
    step = _line_height(font) * 1.15
    y = height * rng.uniform(0.03, 0.08)
    center = (left + right) / 2

    def centred(text: str, f=font) -> None:
        nonlocal y
        page.text((center, y), text, f, ink, anchor="ma")
        y += _line_height(f) * 1.15

    centred(shop.upper(), big)
    centred(_street(rng))
    centred(_city_line(rng))
    centred(f"Tel {_phone(rng)}" if rng.random() < 0.6 else _phone(rng))
    month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    year = int(rng.choice([2025, 2026]))
    date = pick(rng, (f"{month:02d}/{day:02d}/{year}", f"{month:02d}/{day:02d}/{year % 100:02d}",
                      f"{year}-{month:02d}-{day:02d}", f"{MONTH_ABBR[month - 1]} {day}, {year}"))
    stamp = f"{date} {_clock(rng)}"
    register = f"REG {int(rng.integers(1, 9))}  TRN {int(rng.integers(1000, 9999))}"
    page.row(y, stamp, "", font, ink, left, right)
    y += step
    if shop_type == "cafe" and rng.random() < 0.6:
        page.row(y, f"Table {int(rng.integers(1, 30))}", f"Guests {int(rng.integers(1, 6))}", font, ink, left, right)
        y += step
        page.row(y, f"Server: {pick(rng, FIRST_NAMES)}", "", font, ink, left, right)
    else:
        page.row(y, register, f"Cashier: {pick(rng, FIRST_NAMES).upper()}" if rng.random() < 0.5 else "",
                 font, ink, left, right)
    y += step
    dashes = "-" * max(8, int((right - left) / font.getlength("-")))
    page.text((left, y), dashes, font, ink)
    y += step
    footer_lines = 7
    room = int((height * 0.97 - y) / step) - footer_lines - 6
    count = max(2, min(int(rng.integers(3, 12)), room))
    subtotal = 0.0
    for item in rng.choice(len(goods), size=min(count, len(goods)), replace=False):
        if y > height * 0.97 - step * 8:  # keep room for the totals
            break
        price = round(float(rng.uniform(0.79, 24.99)), 2)
        quantity = int(rng.integers(2, 4)) if rng.random() < 0.2 else 1
        total = round(price * quantity, 2)
        subtotal += total
        page.row(y, goods[int(item)], f"{total:.2f}", font, ink, left, right)
        y += step
        if quantity > 1:
            page.text((left + font.getlength("  "), y), f"{quantity} @ {price:.2f}", font, ink)
            y += step
    page.text((left, y), dashes, font, ink)
    y += step
    rate = float(rng.choice([0.0, 4.5, 5.5, 6.0, 6.25, 7.0, 8.25, 8.875]))
    tax = round(subtotal * rate / 100, 2)
    totals = [("SUBTOTAL", f"{subtotal:.2f}"), (f"TAX {rate:g}%", f"{tax:.2f}"), ("TOTAL", f"{subtotal + tax:.2f}")]
    paid = pick(rng, ("VISA", "MASTERCARD", "DEBIT", "AMEX", "CASH"))
    if paid == "CASH":
        given = math.ceil(subtotal + tax)
        totals += [("CASH", f"{given:.2f}"), ("CHANGE", f"{given - subtotal - tax:.2f}")]
    else:
        totals += [(f"{paid} ****{int(rng.integers(1000, 9999))}", f"{subtotal + tax:.2f}"),
                   (f"AUTH {int(rng.integers(100000, 999999))}", "")]
    for label, amount in totals:
        if y > height * 0.97 - step:
            break
        page.row(y, label, amount, font, ink, left, right)
        y += step
    y += step * 0.5
    footers = [pick(rng, RECEIPT_FOOTERS[:4]), pick(rng, RECEIPT_FOOTERS[4:])]
    if rng.random() < 0.5:
        footers.append(f"Customer Service 1-800-555-{int(rng.integers(100, 200)):04d}")
    if rng.random() < 0.5:
        footers.append(f"www.{_slug(shop)}.com")
    for line in footers:
        if y > height * 0.97 - step:
            break
        wrapped = _wrap(line, font, right - left)
        for part in wrapped:
            centred(part)
    if y < height * 0.9:  # a barcode under the footer
        bar_x, bar_h = left + (right - left) * 0.15, step * 1.6
        while bar_x < right - (right - left) * 0.15:
            bar_w = scale * float(rng.choice([1.5, 3, 4.5]))
            if rng.random() < 0.55:
                page.draw.rectangle((bar_x, y, bar_x + bar_w, y + bar_h), fill=ink)
            bar_x += bar_w
    return page.image, page.lines()


MENU_SECTIONS = {
    "Starters": ("Crispy Brussels Sprouts", "Loaded Nachos", "Calamari", "Spinach Artichoke Dip", "Wings (8)",
                 "Soft Pretzel & Beer Cheese", "Hummus Plate", "Fried Pickles"),
    "Salads": ("House Salad", "Caesar Salad", "Cobb Salad", "Beet & Goat Cheese", "Kale Crunch Bowl"),
    "Burgers & Sandwiches": ("Classic Cheeseburger", "Black Bean Burger", "Fried Chicken Sandwich",
                             "Reuben", "BLT Club", "Philly Cheesesteak", "Grilled Veggie Wrap"),
    "Mains": ("Fish & Chips", "Steak Frites", "Roast Half Chicken", "Shrimp Tacos", "Mushroom Risotto",
              "Baby Back Ribs", "Pan-Seared Salmon", "Chicken Pot Pie"),
    "Pizza": ("Margherita", "Pepperoni", "Four Cheese", "Sausage & Peppers", "BBQ Chicken", "Veggie Garden"),
    "Desserts": ("Chocolate Lava Cake", "Key Lime Pie", "Apple Crumble", "Cheesecake", "Ice Cream Sundae"),
    "Drinks": ("Draft Beer", "House Wine", "Lemonade", "Iced Tea", "Craft Soda", "Espresso"),
}
DESCRIPTIONS = ("served with fries", "house-made dressing", "choice of side", "with garlic aioli",
                "add bacon 2", "on a toasted brioche bun", "gluten-free available", "with seasonal vegetables",
                "served with coleslaw", "vegetarian")
RESTAURANTS = ("The Copper Pot", "Juniper Kitchen & Bar", "Lucky Fork Diner", "Olive & Thyme", "Harbor House Grill",
               "Smokestack BBQ", "Golden Crust Pizzeria", "Birchwood Tavern", "Saffron Table", "Rail Yard Eatery")
TAGLINES = ("Kitchen & Bar", "Est. 1998", "Family owned since 2004", "Scratch kitchen", "Wood-fired pizza",
            "Good food, good friends", "Locally sourced")


def _hours_phrase(rng: np.random.Generator) -> str:
    """Opening hours as restaurants print them (weekdays and times, but no show)."""
    return pick(rng, (
        "Mon-Fri 11am-10pm", "Mon-Thu 11am-9pm | Fri-Sat 11am-11pm", "Open daily 7am-3pm",
        "Tue-Sun 5pm-10pm | Closed Mondays", "Sun-Thu 11-9 | Fri & Sat 11-10", "Monday to Saturday 10:30am-9pm",
        "Breakfast served until 11am", "Kitchen open until 10pm",
    ))


def _menu(rng: np.random.Generator) -> tuple[Image.Image, list[str]]:
    landscape = rng.random() < 0.35
    size = pick(rng, LANDSCAPE_PHOTO_SIZES if landscape else PHONE_PHOTO_SIZES)
    width, height = size
    scale = _fit_scale(size)
    chalk = rng.random() < 0.35
    background = hsv(rng.uniform(0.25, 0.45), 0.2, 0.18) if chalk else hsv(rng.uniform(0.08, 0.14),
                                                                           rng.uniform(0.05, 0.2), 0.96)
    page = _Page(Image.new("RGB", size, background))
    ink = text_color(rng, [background])
    accent = text_color(rng, [background], minimum=4.5)
    body = pick(rng, BODY_FONTS)
    display = pick(rng, DISPLAY_FONTS)
    name = pick(rng, RESTAURANTS)
    margin = width * 0.07
    y = height * 0.05
    title = _fit_font(display, [name], width - 2 * margin, height * 0.08, MIN_TEXT_PX * scale * 1.5)
    page.text((width / 2, y), name, title, accent, anchor="ma")
    y += _line_height(title) * 1.1
    text_px = MIN_TEXT_PX * scale * rng.uniform(1.0, 1.25)
    font = load_font(body, round(text_px))
    page.text((width / 2, y), pick(rng, TAGLINES), font, ink, anchor="ma")
    y += _line_height(font) * 1.6
    footer = [f"Happy hour {pick(rng, ('4-6pm', '3-6pm', '4-7pm', '3pm-6pm'))} | "
              f"{pick(rng, ('$5 drafts', 'half-price apps', '$2 off cocktails', '$6 house wine'))}",
              _hours_phrase(rng), f"{_street(rng)}, {_city_line(rng)}", _phone(rng)]
    footer = [part for line in footer for part in _wrap(line, font, width - 2 * margin)]
    footer_top = height * 0.96 - len(footer) * _line_height(font) * 1.2 - _line_height(font) * 0.5
    columns = 2 if landscape else 1
    gap = width * 0.05
    col_w = (width - 2 * margin - (columns - 1) * gap) / columns
    sections = list(rng.permutation(list(MENU_SECTIONS)))
    section_font = _fit_font(display, [section.upper() for section in sections], col_w, text_px * 1.25,
                             MIN_TEXT_PX * scale)
    step = _line_height(font) * 1.2
    head_step = _line_height(section_font) * 1.3
    price_style = int(rng.integers(3))  # one way of printing prices per menu
    top = y
    column = 0
    for section in sections:
        dishes = MENU_SECTIONS[section]
        wanted = int(rng.integers(2, 5))
        room = int((footer_top - y - head_step) / (step * 1.4))  # a dish may take a description line
        if room < 2:
            column += 1
            y = top
            room = int((footer_top - y - head_step) / (step * 1.4))
            if column >= columns:
                break
        x0 = margin + column * (col_w + gap)
        page.text((x0, y), section.upper(), section_font, accent)
        y += head_step
        for dish in rng.choice(len(dishes), size=min(wanted, room, len(dishes)), replace=False):
            price = float(rng.choice([3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 18, 19, 22, 24, 26])) + \
                float(rng.choice([0, 0.5, 0.95, 0.99]))
            price_text = (f"{price:.2f}", f"${price:.2f}", f"{price:g}")[price_style]
            # A long name in a narrow column runs over two lines; the price sits on the last.
            name_lines = _wrap(dishes[int(dish)], font, col_w - font.getlength(f"  {price_text}"))
            if y + step * len(name_lines) > footer_top:
                break
            for part in name_lines[:-1]:
                page.text((x0, y), part, font, ink)
                y += step
            page.row(y, name_lines[-1], price_text, font, ink, x0, x0 + col_w)
            y += step
            if rng.random() < 0.4 and y + step < footer_top:
                description = pick(rng, DESCRIPTIONS)
                if font.getlength(f"  {description}") <= col_w:
                    page.text((x0 + font.getlength("  "), y), description, font, ink)
                    y += step
        y += step * 0.5
    y = footer_top
    for line in footer:
        page.text((width / 2, y), line, font, ink, anchor="ma")
        y += _line_height(font) * 1.2
    return page.image, page.lines()


def _notice_sentences(rng: np.random.Generator) -> list[str]:
    weekday = pick(rng, WEEKDAY_NAMES)
    month = pick(rng, ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                       "October", "November", "December"))
    day = int(rng.integers(1, 29))
    street = _street(rng)
    t1, t2 = f"{int(rng.integers(7, 11))}:00 a.m.", f"{int(rng.integers(1, 5))}:00 p.m."
    return [
        f"Water service on {street} will be interrupted on {weekday}, {month} {day} from {t1} to {t2} "
        "while crews replace a section of the main.",
        "The parking lot behind the building will be repaved next week; please park on the street until "
        "further notice.",
        f"Recycling pickup moves to {weekday} for the rest of the month.",
        "Residents are asked to keep sidewalks clear of snow within 24 hours of a storm.",
        f"The front office is open {pick(rng, ('Monday through Friday', 'weekdays'))} from {t1} to "
        f"{pick(rng, ('4:30 p.m.', '5 p.m.', '6 p.m.'))}.",
        f"Questions may be directed to the front desk at {_phone(rng)}.",
        f"The board met on {weekday} evening and voted {int(rng.integers(4, 7))}-{int(rng.integers(1, 3))} to "
        "approve the budget for the coming year.",
        f"According to the report, traffic on the bridge has grown by {int(rng.integers(5, 30))} percent "
        "since 2019.",
        f"Volunteers planted more than {int(rng.integers(1, 9)) * 100} trees along the river trail this fall.",
        "Please sign out any equipment you borrow and return it by the end of the day.",
        "Thank you for your patience while the elevator is being serviced.",
        f"The new schedule takes effect on {month} {day}.",
        "Late fees have been waived for all children's books through the end of the year.",
        "Packages left in the lobby for more than three days will be returned to the sender.",
        f"Office hours with {_person(rng)} are by appointment only.",
        "The committee thanks everyone who filled out the survey; the results are posted in the hallway.",
        "Bus route 14 will detour around the construction zone until the work is complete.",
        f"Minutes of the last meeting are available at the library, {street}.",
    ]


HEADINGS = ("NOTICE TO RESIDENTS", "Important Notice", "Library News", "A Note From the Office",
            "Building Update", "Community Bulletin", "Neighborhood Newsletter", "City Council Approves New Bike Lanes",
            "Local Bakery Marks 25 Years", "Storm Cleanup Continues Across the County", "Annual Report Summary")


def _text_page(rng: np.random.Generator) -> tuple[Image.Image, list[str]]:
    size = pick(rng, PHONE_PHOTO_SIZES + LANDSCAPE_PHOTO_SIZES[:2])
    width, height = size
    scale = _fit_scale(size)
    paper = hsv(rng.uniform(0.08, 0.15), rng.uniform(0.0, 0.08), rng.uniform(0.92, 1.0))
    page = _Page(Image.new("RGB", size, paper))
    ink = text_color(rng, [paper])
    body = pick(rng, BODY_FONTS)
    margin_x, y = width * rng.uniform(0.07, 0.11), height * 0.06
    heading = pick(rng, HEADINGS)
    head_font = _fit_font(pick(rng, DISPLAY_FONTS), [heading], width - 2 * margin_x, MIN_TEXT_PX * scale * 2,
                          MIN_TEXT_PX * scale * 1.2)
    for part in _wrap(heading, head_font, width - 2 * margin_x):
        page.text((margin_x, y), part, head_font, ink)
        y += _line_height(head_font) * 1.15
    y += _line_height(head_font) * 0.4
    font = load_font(body, round(MIN_TEXT_PX * scale * rng.uniform(1.0, 1.2)))
    step = _line_height(font) * 1.25
    sentences = _notice_sentences(rng)
    order = rng.permutation(len(sentences))
    paragraphs, i = [], 0
    while i < len(order):
        n = int(rng.integers(2, 4))
        paragraphs.append(" ".join(sentences[j] for j in order[i:i + n]))
        i += n
    for paragraph in paragraphs:
        wrapped = _wrap(paragraph, font, width - 2 * margin_x)
        if y + step * min(len(wrapped), 2) > height * 0.95:
            break
        for part in wrapped:
            if y + step > height * 0.95:
                break
            page.text((margin_x, y), part, font, ink)
            y += step
        y += step * 0.6
    return page.image, page.lines()


CHAT_MESSAGES = (
    "are we still on for dinner?", "running 10 min late sorry", "can you grab milk on the way home",
    "lol", "happy birthday!!", "did you see the game last night", "meeting moved to 3pm",
    "ok sounds good", "I'm outside", "where did you park?", "call me when you can", "thanks so much!",
    "haha no way", "what time does your flight land", "just got home", "can't make it tonight, next week?",
    "did mom call you", "the package came", "omw", "see you soon", "what do you want for dinner",
    "I left the keys under the mat", "traffic is terrible", "yes!", "love that", "send me the photos",
    "how was the interview?", "good luck today", "the dog ate my sandwich again", "back in 5",
)  # fmt: skip


def _chat_stamp(rng: np.random.Generator) -> str:
    clock = _clock(rng, (6, 24), style=1)
    return pick(rng, (f"Yesterday {clock}", f"Today {clock}", f"{pick(rng, WEEKDAY_NAMES)[:3]} {clock}",
                      f"{pick(rng, WEEKDAY_NAMES)}, {pick(rng, MONTH_ABBR)} {int(rng.integers(1, 29))} at {clock}",
                      clock))


def _chat(rng: np.random.Generator) -> tuple[Image.Image, list[str]]:
    size = pick(rng, SCREENSHOT_SIZES)
    width, height = size
    scale = _fit_scale(size)
    dark = rng.random() < 0.35
    background = (0, 0, 0) if dark else (255, 255, 255)
    incoming = (38, 38, 40) if dark else (233, 233, 235)
    outgoing = pick(rng, ((10, 132, 255), (52, 199, 89), (0, 120, 110)))
    ink = (255, 255, 255) if dark else (0, 0, 0)
    page = _Page(Image.new("RGB", size, background))
    font_name = pick(rng, ("DejaVuSans", "DejaVuSans", "STIXGeneral"))
    font = load_font(font_name, round(MIN_TEXT_PX * scale * rng.uniform(1.0, 1.15)))
    small = load_font(font_name, round(MIN_TEXT_PX * scale * 0.95))
    bold = load_font("DejaVuSans-Bold", round(font.size * 1.05))
    pad = width * 0.04
    # Status bar, then the header with the other person's name.
    page.text((pad * 1.5, pad * 0.6), _clock(rng, (6, 24), style=1).split()[0], bold, ink)
    page.text((width - pad * 1.5, pad * 0.6), f"{int(rng.integers(12, 100))}%", small, ink, anchor="ra")
    groups = (f"{pick(rng, LAST_NAMES)} Family", "Book Club", "Roommates", "Soccer Parents", "Work Friends")
    contact = pick(rng, (pick(rng, FIRST_NAMES), _person(rng), pick(rng, groups)))
    group = contact in groups
    y = pad * 0.6 + _line_height(bold) * 1.6
    page.text((width / 2, y), contact, bold, ink, anchor="ma")
    y += _line_height(bold) * 1.2
    status = pick(rng, ("Active now", "online", f"last seen today at {_clock(rng, (6, 24), style=1)}", ""))
    if status:
        page.text((width / 2, y), status, small, (140, 140, 145), anchor="ma")
        y += _line_height(small)
    y += pad * 0.6
    page.draw.line((0, y, width, y), fill=(60, 60, 64) if dark else (210, 210, 214), width=max(1, round(scale)))
    y += pad
    bottom = height - pad * 4
    bubble_w = width * 0.68
    line_h = _line_height(font)
    while y < bottom:
        if rng.random() < 0.3:
            page.text((width / 2, y), _chat_stamp(rng), small, (140, 140, 145), anchor="ma")
            y += _line_height(small) * 1.5
        mine = rng.random() < 0.5
        text = pick(rng, CHAT_MESSAGES)
        lines = _wrap(text, font, bubble_w - 2 * pad)
        box_h = line_h * len(lines) + pad
        sender = None if mine or not group else pick(rng, FIRST_NAMES)
        extra = _line_height(small) if sender else 0
        if y + box_h + extra > bottom:
            break
        if sender:
            page.text((pad * 1.6, y), sender, small, (140, 140, 145))
            y += extra
        text_w = max(font.getlength(line) for line in lines)
        x0 = width - pad - text_w - 2 * pad if mine else pad
        page.draw.rounded_rectangle((x0, y, x0 + text_w + 2 * pad, y + box_h), radius=pad,
                                    fill=outgoing if mine else incoming)
        for i, line in enumerate(lines):
            page.text((x0 + pad, y + pad / 2 + i * line_h), line, font, (255, 255, 255) if mine else ink)
        y += box_h + pad * 0.5
    # The message field.
    field_y = height - pad * 3
    page.draw.rounded_rectangle((pad, field_y, width - pad, field_y + pad * 2), radius=pad,
                                outline=(90, 90, 96), width=max(1, round(scale)))
    page.text((pad * 2, field_y + pad), pick(rng, ("iMessage", "Message", "Type a message")), small,
              (140, 140, 145), anchor="lm")
    return page.image, page.lines()


MEME_CAPTIONS = (
    ("WHEN YOU FINALLY FIX THE BUG", "AND THREE MORE APPEAR"), ("ME AT 3AM", "ONE MORE EPISODE"),
    ("NOBODY:", "MY CAT AT 5AM"), ("MONDAY MORNING", "BE LIKE"), ("ONE DOES NOT SIMPLY", "LEAVE THE GROUP CHAT"),
    ("WHEN THE WIFI", "COMES BACK ON"), ("I'LL JUST CHECK ONE EMAIL", "FOUR HOURS LATER"),
    ("THAT FEELING WHEN", "THE PIZZA ARRIVES EARLY"), ("MY PLANS FOR THE WEEKEND", ""),
    ("WHO ATE MY LEFTOVERS", "I JUST WANT TO TALK"), ("WHEN SOMEONE SAYS", "IT'S A QUICK MEETING"),
    ("BRAIN AT 2AM:", "REMEMBER THAT THING FROM 2009?"), ("ME EXPLAINING THE PLOT", "NOBODY LISTENING"),
    ("WHEN THE GPS SAYS", "RECALCULATING"), ("HOW IT STARTED", "HOW IT'S GOING"),
)  # fmt: skip


def _meme(rng: np.random.Generator) -> tuple[Image.Image, list[str]]:
    size = pick(rng, ((1080, 1080), (1200, 1200), (1000, 1250), (1600, 1200), (1080, 1350), (1400, 1400)))
    width, height = size
    scale = _fit_scale(size)
    top, bottom = pick(rng, MEME_CAPTIONS)
    if rng.random() < 0.35:  # a caption band above the picture, black on white
        band = int(height * rng.uniform(0.18, 0.28))
        page = _Page(Image.new("RGB", size, (255, 255, 255)))
        page.image.paste(_picture(rng, (width, height - band)), (0, band))
        caption = f"{top} {bottom}".strip().capitalize()
        font = _fit_font("DejaVuSans", [caption], width * 0.9, band * 0.35, MIN_TEXT_PX * scale * 1.2)
        lines = _wrap(caption, font, width * 0.9)
        y = (band - len(lines) * _line_height(font)) / 2
        for line in lines:
            page.text((width * 0.05, y), line, font, (0, 0, 0))
            y += _line_height(font)
        return page.image, page.lines()
    page = _Page(_picture(rng, size))
    font_name = pick(rng, ("DejaVuSans-Bold", "DejaVuSans-Bold", "DejaVuSansMono-Bold", "STIXGeneralBol"))
    for text, at_top in ((top, True), (bottom, False)):
        if not text:
            continue
        font = _fit_font(font_name, [text], width * 0.92, height * 0.11, MIN_TEXT_PX * scale * 1.5)
        lines = _wrap(text, font, width * 0.92)
        stroke = max(2, round(font.size * 0.07))
        block = len(lines) * _line_height(font)
        y = height * 0.03 if at_top else height * 0.97 - block
        for line in lines:
            page.text((width / 2, y), line, font, (255, 255, 255), anchor="ma", stroke=stroke, stroke_fill=(0, 0, 0))
            y += _line_height(font)
    return page.image, page.lines()


def _photo(rng: np.random.Generator) -> tuple[Image.Image, list[str]]:
    size = pick(rng, PHONE_PHOTO_SIZES + LANDSCAPE_PHOTO_SIZES)
    return _picture(rng, size), []


def _poster_content(rng: np.random.Generator, phone: str) -> list[tuple[str, str]]:
    """(role, text) lines of a poster with no date, weekday or time: headline, body, contact."""
    kind = pick(rng, ("opening", "rent", "lost", "ad", "sale", "help", "lessons", "found"))
    if kind == "opening":
        name = pick(rng, RESTAURANTS + ("Bloom Flower Studio", "Peak Fitness", "Paws & Claws Grooming"))
        return [("head", "GRAND OPENING"), ("big", name), ("body", "Now open in your neighborhood"),
                ("body", pick(rng, ("10% off your first visit", "Free samples all week", "Come say hello!"))),
                ("body", _street(rng)), ("body", _city_line(rng)), ("body", phone)]
    if kind == "rent":
        beds = int(rng.integers(1, 4))
        return [("head", "FOR RENT"), ("big", f"{beds} bed {int(rng.integers(1, beds + 1))} bath apartment"),
                ("body", f"${int(rng.integers(8, 30)) * 100:,}/month"),
                ("body", pick(rng, ("Pets negotiable", "Washer/dryer in unit", "Off-street parking",
                                    "Utilities included"))),
                ("body", _street(rng)), ("body", f"Call or text {phone}")]
    if kind in ("lost", "found"):
        pet = pick(rng, ("CAT", "DOG"))
        name = pick(rng, ("Milo", "Luna", "Biscuit", "Pepper", "Ziggy", "Olive", "Rocket"))
        looks = pick(rng, ("Grey tabby with white paws", "Black cat with a red collar", "Orange, very friendly")
                     if pet == "CAT" else ("Small brown terrier mix", "Black lab, red collar", "White and tan, shy"))
        lines = [("head", f"{kind.upper()} {pet}"), ("body", looks)]
        if kind == "lost":
            lines += [("big", f"Answers to {name}"), ("body", f"Last seen near {pick(rng, STREET_NAMES)} "
                                                              f"{pick(rng, STREET_SUFFIXES)}"),
                      ("body", "REWARD"), ("body", f"Please call {phone}")]
        else:
            lines += [("body", f"Found near {_street(rng)}"), ("body", f"Call {phone} to describe")]
        return lines
    if kind == "ad":
        business = pick(rng, ("Bright Smile Dental", "Evergreen Lawn Care", "Reliable Plumbing & Heating",
                              "Summit Tax Services", "Happy Tails Dog Walking", "Clearview Window Cleaning"))
        return [("big", business), ("body", pick(rng, ("New patients welcome", "Free estimates",
                                                       "Licensed & insured", "Family owned"))),
                ("body", pick(rng, ("Serving the area since 1996", "Call now", "Satisfaction guaranteed"))),
                ("body", _street(rng)), ("body", _city_line(rng)), ("body", phone),
                ("body", f"www.{_slug(business)}.com")]
    if kind == "sale":
        car = pick(rng, ("2014 Honda Civic", "2011 Toyota Camry", "2016 Subaru Outback", "2009 Ford Ranger"))
        return [("head", "FOR SALE"), ("big", car),
                ("body", f"{int(rng.integers(60, 180))}k miles, runs great"),
                ("body", f"${int(rng.integers(30, 150)) * 100:,} OBO"), ("body", f"Text {phone}")]
    if kind == "help":
        job = pick(rng, ("LINE COOK", "BARISTA", "CASHIER", "DELIVERY DRIVER", "DISHWASHER"))
        return [("head", "NOW HIRING"), ("big", job), ("body", pick(rng, ("Full and part time", "Flexible hours",
                                                                          "Competitive pay"))),
                ("body", "Apply within or call"), ("body", phone)]
    instrument = pick(rng, ("GUITAR", "PIANO", "VIOLIN", "DRUM"))
    return [("head", f"{instrument} LESSONS"), ("big", pick(rng, ("All ages and levels", "Beginners welcome"))),
            ("body", f"{int(rng.integers(5, 25))} years teaching experience"),
            ("body", f"${int(rng.integers(25, 70))} per lesson"), ("body", f"Call {_person(rng)}"),
            ("body", phone)]


def _poster(rng: np.random.Generator) -> tuple[Image.Image, list[str]]:
    size = pick(rng, PHONE_PHOTO_SIZES + LANDSCAPE_PHOTO_SIZES[:3])
    width, height = size
    scale = _fit_scale(size)
    phone = _phone(rng)
    content = _poster_content(rng, phone)
    paper = hsv(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.85, 1.0)) if rng.random() < 0.7 \
        else hsv(rng.random(), rng.uniform(0.6, 0.9), rng.uniform(0.15, 0.35))
    page = _Page(Image.new("RGB", size, paper))
    ink, accent = text_color(rng, [paper]), text_color(rng, [paper], minimum=4.5)
    display, body = pick(rng, DISPLAY_FONTS), pick(rng, BODY_FONTS)
    tabs = rng.random() < 0.4 and width < height
    bottom = height * (0.75 if tabs else 0.94)
    margin = width * 0.08
    px = {"head": height * 0.1, "big": height * 0.06, "body": MIN_TEXT_PX * scale * rng.uniform(1.3, 2.0)}
    fonts = {role: _fit_font(display if role != "body" else body, [t for r, t in content if r == role] or ["M"],
                             width - 2 * margin, px[role], MIN_TEXT_PX * scale * (1.3 if role != "body" else 1.0))
             for role in px}
    heights = [_line_height(fonts[role]) * 1.25 for role, _ in content]
    y = max(height * 0.05, (bottom - sum(heights)) / 2)
    for (role, text), h in zip(content, heights):
        for part in _wrap(text, fonts[role], width - 2 * margin):
            page.text((width / 2, y), part, fonts[role], accent if role == "head" else ink, anchor="ma")
            y += h
    if tabs:  # tear-off strips with the phone number, printed sideways
        count = int(rng.integers(6, 10))
        tab_w = width / count
        tab_font = load_font(body, round(min(tab_w * 0.45, MIN_TEXT_PX * scale * 1.1)))
        page.draw.line((0, bottom, width, bottom), fill=ink, width=max(1, round(scale)))
        for i in range(count):
            strip = Image.new("RGB", (round(height - bottom - 4), round(tab_w - 4)), paper)
            ImageDraw.Draw(strip).text((strip.width / 2, strip.height / 2), phone, font=tab_font, fill=ink,
                                       anchor="mm")
            page.image.paste(strip.rotate(90, expand=True), (round(i * tab_w + 2), round(bottom + 2)))
            if i:
                page.draw.line((i * tab_w, bottom, i * tab_w, height), fill=ink, width=max(1, round(scale)))
            page.runs.append((bottom + 2, i * tab_w, phone))
    return page.image, page.lines()


def _hours_rows(rng: np.random.Generator) -> list[tuple[str, str]]:
    def span(open_h: int, close_h: int, style: int) -> str:
        def clock(h: int) -> str:
            suffix = "AM" if h < 12 or h == 24 else "PM"
            h12 = h % 12 or 12
            return (f"{h12}:00 {suffix}", f"{h12} {suffix.lower()}", f"{h12}{suffix.lower()}", f"{h:02d}:00")[style]

        return f"{clock(open_h)} - {clock(close_h)}"

    style = int(rng.integers(4))
    opens, closes = int(rng.integers(6, 11)), int(rng.integers(17, 23))
    short = rng.random() < 0.5
    days = [d[:3] if short else d for d in WEEKDAY_NAMES]
    layout = int(rng.integers(3))
    if layout == 0:
        return [(days[i], span(opens, closes, style)) for i in range(6)] + [(days[6], "Closed")]
    if layout == 1:
        return [(f"{days[0]} - {days[4]}", span(opens, closes, style)),
                (days[5], span(opens + 1, closes - 2, style)), (days[6], pick(rng, ("Closed", span(11, 16, style))))]
    return [(f"{days[0]} - {days[3]}", span(opens, closes, style)), (f"{days[4]} & {days[5]}",
                                                                     span(opens, closes + 1, style)),
            (days[6], span(opens + 2, closes - 3, style))]


def _store_hours(rng: np.random.Generator) -> tuple[Image.Image, list[str]]:
    size = pick(rng, PHONE_PHOTO_SIZES + LANDSCAPE_PHOTO_SIZES)
    width, height = size
    scale = _fit_scale(size)
    glass = rng.random() < 0.5  # white vinyl letters on a dark shop door, or a printed sign
    background = hsv(rng.random(), rng.uniform(0.1, 0.4), rng.uniform(0.08, 0.2)) if glass else \
        hsv(rng.random(), rng.uniform(0.0, 0.15), rng.uniform(0.9, 1.0))
    page = _Page(_blend(_smooth_noise(rng, size, 3) * 0.3, background, tuple(min(255, c + 25) for c in background)))
    ink = (245, 245, 245) if glass else text_color(rng, [background])
    display, body = pick(rng, DISPLAY_FONTS), pick(rng, BODY_FONTS)
    shop = pick(rng, tuple(n for names, _ in SHOPS.values() for n in names) + RESTAURANTS)
    rows = _hours_rows(rng)
    heading = pick(rng, ("STORE HOURS", "HOURS", "OPEN", "Business Hours", "Hours of Operation"))
    extra = [pick(rng, ("Holiday hours may vary", "Closed on major holidays", "Open 7 days",
                        "Curbside pickup available", f"Call {_phone(rng)}", f"www.{_slug(shop)}.com"))]
    margin = width * 0.12
    lines = [("shop", shop), ("head", heading)] + [("row", f"{d}  {h}") for d, h in rows] + [("extra", e)
                                                                                                for e in extra]
    px = MIN_TEXT_PX * scale * rng.uniform(1.2, 1.8)
    row_font = _fit_font(body, [r for role, r in lines if role == "row"], width - 2 * margin, px,
                         MIN_TEXT_PX * scale)
    fonts = {"shop": _fit_font(display, [shop], width - 2 * margin, px * 1.5, row_font.size),
             "head": _fit_font(display, [heading], width - 2 * margin, px * 1.6, row_font.size), "row": row_font,
             "extra": load_font(body, round(max(MIN_TEXT_PX * scale, row_font.size * 0.8)))}
    total = sum(_line_height(fonts[role]) * 1.4 for role, _ in lines)
    y = max(height * 0.05, (height - total) / 2)
    day_w = max(row_font.getlength(d) for d, _ in rows)
    hours_w = max(row_font.getlength(h) for _, h in rows)
    gap = max(row_font.getlength("    "), min(width - 2 * margin - day_w - hours_w, width * 0.2))
    x0 = (width - day_w - gap - hours_w) / 2
    row_iter = iter(rows)
    for role, text in lines:
        font = fonts[role]
        if role == "row":
            day, hours = next(row_iter)
            page.row(y, day, hours, font, ink, x0, x0 + day_w + gap + hours_w)
        else:
            page.text((width / 2, y), text, font, ink, anchor="ma")
        y += _line_height(font) * 1.4
    return page.image, page.lines()


JOBS = ("Realtor", "Licensed Electrician", "Attorney at Law", "Insurance Agent", "Graphic Designer",
        "Certified Public Accountant", "Personal Trainer", "Account Manager", "Veterinarian", "Photographer",
        "General Contractor", "Financial Advisor")
COMPANIES = ("Keystone Realty Group", "Volt Electric LLC", "Harper & Lowe LLP", "Northstar Insurance",
             "Pixel Yard Studio", "Brightline Accounting", "Core Strength Gym", "Meridian Partners",
             "Cedar Creek Animal Clinic", "Oakline Builders", "Summit Wealth Advisors")


def _business_card(rng: np.random.Generator) -> tuple[Image.Image, list[str]]:
    size = pick(rng, LANDSCAPE_PHOTO_SIZES)
    width, height = size
    scale = _fit_scale(size)
    page = _Page(_surface(rng, size))
    card_w = width * rng.uniform(0.78, 0.9)
    card_h = min(card_w / 1.75, height * 0.85)
    card_w = card_h * 1.75
    cx0, cy0 = (width - card_w) / 2, (height - card_h) / 2
    light = rng.random() < 0.7
    card = hsv(rng.random(), rng.uniform(0.0, 0.1), rng.uniform(0.92, 1.0)) if light else \
        hsv(rng.random(), rng.uniform(0.3, 0.7), rng.uniform(0.12, 0.3))
    page.draw.rectangle((cx0 + 6 * scale, cy0 + 6 * scale, cx0 + card_w + 6 * scale, cy0 + card_h + 6 * scale),
                        fill=(40, 36, 32))
    page.draw.rectangle((cx0, cy0, cx0 + card_w, cy0 + card_h), fill=card)
    ink, accent = text_color(rng, [card]), text_color(rng, [card], minimum=4.5)
    display, body = pick(rng, DISPLAY_FONTS), pick(rng, BODY_FONTS)
    person = _person(rng)
    company = pick(rng, COMPANIES)
    left = cx0 + card_w * 0.07
    usable = card_w * 0.86
    name_font = _fit_font(display, [person], usable, card_h * 0.14, MIN_TEXT_PX * scale * 1.3)
    small = _fit_font(body, [company], usable, MIN_TEXT_PX * scale * 1.2, MIN_TEXT_PX * scale)
    y = cy0 + card_h * 0.09
    page.text((left, y), person, name_font, accent)
    y += _line_height(name_font) * 1.05
    page.text((left, y), pick(rng, JOBS), small, ink)
    y += _line_height(small) * 1.1
    page.text((left, y), company, small, ink)
    y += _line_height(small) * 1.5
    first, last = person.lower().split()
    domain = f"{_slug(company)[:14]}.com"
    contact = [f"{pick(rng, ('Cell', 'Mobile', 'Office', 'Tel', 'M', 'P'))}: {_phone(rng)}",
               f"{pick(rng, (first, first[0] + last, first + '.' + last))}@{domain}", _street(rng), _city_line(rng)]
    if rng.random() < 0.5:
        contact.insert(2, f"www.{domain}")
    step = _line_height(small) * 1.15
    room = int((cy0 + card_h * 0.94 - y) / step)
    for line in contact[:room]:
        page.text((left, y), line, small, ink)
        y += step
    return page.image, page.lines()


_RENDERERS: dict[str, Callable[[np.random.Generator], tuple[Image.Image, list[str]]]] = {
    "receipt": _receipt, "menu": _menu, "text_page": _text_page, "chat": _chat, "meme": _meme, "photo": _photo,
    "poster": _poster, "store_hours": _store_hours, "business_card": _business_card,
}


def make_nonflyer(seed: int, *, photo: bool = False, kind: str | None = None) -> NonFlyer:
    """Render one image that is not a flyer; the same arguments always give the same pixels and lines.

    ``kind`` is one of KINDS (default ``KINDS[seed % len(KINDS)]``). ``photo``: the same image
    photographed (flyers.photo_variant).
    """
    kind = kind or KINDS[seed % len(KINDS)]
    if kind not in _RENDERERS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    rng = np.random.default_rng(seed)
    image, lines = _RENDERERS[kind](rng)
    if photo:
        image = photo_variant(image, rng)
    return NonFlyer(image=image.convert("RGB"), kind=kind, lines=lines)
