"""What an image costs in input tokens before it is sent: the documented rule, corrected by what answers report.

    estimate = image_token_estimate("gemini-2.5-flash", media_resolution=None)
    estimate.tokens(1200, 800)          # 1,548: 6 tiles of the documented crop unit (533 px), 258 each
    estimate.learn(1200, 800, 1032)     # an answer's promptTokensDetails (IMAGE) for that image
    estimate.tokens(1200, 800)          # 1,032 from now on

The rule (Gemini 2.x, ``../shared/gemini-batch.md``): 258 tokens when both sides are at most 384 px; else tiles of
``floor(min(w, h) / 1.5)`` px, 258 each. A LOW or MEDIUM media resolution is a flat 64 or 256; Gemini 3 prices a
level, not a size. Users report that the API charges otherwise (2.5 Pro: 258 for any size), so each estimate keeps
the ratio of reported to documented tokens as a moving average and scales the rule by it: it converges to what the
API charges. One estimate per model and media resolution per process, shared by every extractor and thread.
"""

from __future__ import annotations

import math
import threading

TOKENS_PER_TILE = 258
SMALL_SIDE = 384  # both sides at most this: one tile's price
FLAT_2X = {"low": 64, "medium": 256}  # Gemini 2.x at a LOW or MEDIUM media resolution, any size
LEVELS_3 = {"low": 280, "medium": 560, "high": 1120, "ultra_high": 2240}  # Gemini 3, per image; default high
LEARNING_WEIGHT = 0.2  # each answer's share of the learnt ratio


def documented_tokens(width: int, height: int, model: str, media_resolution: str | None = None) -> int:
    """The documented token count of one ``width`` x ``height`` image for ``model`` at ``media_resolution``
    ("low", "medium", "high" or None: the model's default)."""
    level = (media_resolution or "").lower() or None
    if model.removeprefix("models/").startswith("gemini-3"):
        return LEVELS_3.get(level or "high", LEVELS_3["high"])
    if level in FLAT_2X:
        return FLAT_2X[level]
    if width <= SMALL_SIDE and height <= SMALL_SIDE:
        return TOKENS_PER_TILE
    crop = max(1, math.floor(min(width, height) / 1.5))
    return math.ceil(width / crop) * math.ceil(height / crop) * TOKENS_PER_TILE


class ImageTokenEstimate:
    """The documented rule for one model and media resolution, corrected by the answers: per documented count, the
    moving average of what was reported for it; for a count not seen yet, the rule times the reported /
    documented ratio learnt over all answers."""

    def __init__(self, model: str, media_resolution: str | None = None) -> None:
        self.model, self.media_resolution = model, media_resolution
        self.ratio = 1.0  # reported / documented, a moving average over the answers seen
        self.reported: dict[int, float] = {}  # documented count -> moving average of the counts reported for it
        self.learnt = 0  # answers that taught it
        self._lock = threading.Lock()

    def documented(self, width: int, height: int) -> int:
        return documented_tokens(width, height, self.model, self.media_resolution)

    def tokens(self, width: int, height: int) -> int:
        """The estimate for an image of this size: what answers reported for its documented count, else the rule
        times the ratio learnt."""
        documented = self.documented(width, height)
        seen = self.reported.get(documented)
        return max(1, round(seen if seen is not None else documented * self.ratio))

    def learn(self, width: int, height: int, reported: int | None) -> None:
        """An answer reported ``reported`` image tokens for an image of this size (None or 0: it said nothing)."""
        if not reported:
            return
        documented = self.documented(width, height)
        with self._lock:
            # a first answer is taken as it is: the rule may be off by a factor of several
            seen = self.reported.get(documented)
            self.reported[documented] = reported if seen is None else seen + LEARNING_WEIGHT * (reported - seen)
            observed = reported / documented
            self.ratio = observed if self.learnt == 0 else self.ratio + LEARNING_WEIGHT * (observed - self.ratio)
            self.learnt += 1


_ESTIMATES: dict[tuple[str, str | None], ImageTokenEstimate] = {}
_ESTIMATES_LOCK = threading.Lock()


def image_token_estimate(model: str, media_resolution: str | None = None) -> ImageTokenEstimate:
    """This process's estimate for ``model`` at ``media_resolution``, made on first use."""
    key = (model, media_resolution)
    with _ESTIMATES_LOCK:
        if key not in _ESTIMATES:
            _ESTIMATES[key] = ImageTokenEstimate(model, media_resolution)
        return _ESTIMATES[key]


__all__ = ["ImageTokenEstimate", "documented_tokens", "image_token_estimate", "TOKENS_PER_TILE"]
