"""How many pixels an image may have, and how much decode memory a process may have in flight.

A few hundred bytes can declare a 9400x9400 canvas, and decoders allocate what is declared: one such
image cost 1.8 GB, and 20 threads decoding side by side kill a worker (issue 12). Two guards:

- ``PixelLimits``: a policy from what the output needs. The output is at most long x short pixels
  (1200x800); a still may be decoded at up to 40 times that (38 MP), an animation's canvas (which
  decoders allocate, and keep copies of, whatever the frame's size) at 4 times (3.8 MP).
- ``DecodeBudget``: a per-process semaphore on estimated bytes. A thread that wants to decode an
  image estimated at N bytes waits, first come first served, until N bytes are free; an image over
  the whole budget can never run and is refused. ``DEFAULT_DECODE_BUDGET`` is the one every
  ``optimize_image`` call uses unless given another: each worker process has its own, no wiring needed.
  optimize holds it for the float work on the output as well (contrast, sharpening: ~44 MB an image,
  CLAHE ~190 MB), which 20 threads otherwise did side by side (0.9 GB, CLAHE 2 GB).

The bound shows in RSS only where freed memory goes back to the system: Dask's nanny starts workers
with MALLOC_TRIM_THRESHOLD_ set, which also fixes glibc's mmap threshold, so large buffers are returned
when freed. Without it (a plain process, 20 threads) glibc keeps each thread's freed buffers in that
thread's arena, and RSS grows with the threads however little is in use at once.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

STILL_PIXELS_PER_OUTPUT_PIXEL = 40  # 38.4 MP at 1200x800: a 48 MP phone photo's JPEG decodes at 1/2 or 1/4 anyway
ANIMATION_PIXELS_PER_OUTPUT_PIXEL = 4  # 3.8 MP at 1200x800: 2560x1440 passes, a 4K canvas does not
DEFAULT_BUDGET_BYTES = 384 * 2**20
"""Per process. Fits the largest still allowed (a 38 MP RGBA PNG needs ~190 MB), seven 12 MP JPEG photos
at once (~50 MB each, the float work on the output included), or two CLAHE passes (~190 MB each: a smaller
budget runs them one at a time, BENCHMARKS.md). A WebP still needs ~22 bytes a pixel, so one over ~16 MP is
refused."""


@dataclass(frozen=True)
class PixelLimits:
    still: int
    animation: int

    @classmethod
    def for_output(cls, long_side: int, short_side: int) -> "PixelLimits":
        area = long_side * short_side
        return cls(STILL_PIXELS_PER_OUTPUT_PIXEL * area, ANIMATION_PIXELS_PER_OUTPUT_PIXEL * area)


class DecodeBudget:
    """Bytes of decode memory in flight in one process, granted first come first served.

        with budget.reserve(estimated_bytes):
            ...decode...

    FIFO order keeps a large image from starving behind a stream of small ones; it costs only the
    wait for the images already decoding.
    """

    def __init__(self, total_bytes: int = DEFAULT_BUDGET_BYTES):
        if total_bytes <= 0:
            raise ValueError("a decode budget must be positive")
        self.total_bytes = total_bytes
        self._in_use = 0
        self._peak = 0
        self._queue: deque[int] = deque()
        self._tickets = itertools.count()
        self._changed = threading.Condition()

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def waiting(self) -> int:
        """Threads waiting for their bytes."""
        return len(self._queue)

    @property
    def peak(self) -> int:
        """The most bytes ever granted at once (for tests and benchmarks)."""
        return self._peak

    @contextlib.contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        """Hold ``nbytes`` of the budget for the block; wait for them first. ValueError if they can never fit."""
        if nbytes > self.total_bytes:
            raise ValueError(f"{nbytes} bytes can never fit in a budget of {self.total_bytes}")
        nbytes = max(0, nbytes)
        with self._changed:
            ticket = next(self._tickets)
            self._queue.append(ticket)
            try:
                while self._queue[0] != ticket or self._in_use + nbytes > self.total_bytes:
                    self._changed.wait()
            finally:
                self._queue.remove(ticket)
                self._changed.notify_all()  # the next in line may fit as well (or be first now)
            self._in_use += nbytes
            self._peak = max(self._peak, self._in_use)
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= nbytes
                self._changed.notify_all()


DEFAULT_DECODE_BUDGET = DecodeBudget()
"""This process's budget: shared by every thread of a Dask worker (each worker process has its own)."""
