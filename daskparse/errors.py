"""Per-source failures as values.

A stage raises :class:`SourceError` for a problem with one source (a 404, a file that is not an
image, an extractor that found garbage). The pipeline turns it into one row of ``errors`` and goes
on with the next source. Anything else that escapes a stage is a bug or a fault of the run itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from daskparse.shows import strip_controls

if TYPE_CHECKING:
    from daskparse.usage import Usage


class SourceError(Exception):
    """One source failed at one stage. ``kind`` is stable (``stage.reason``) so users can group by it."""

    def __init__(self, kind: str, message: str, *, transient: bool = False):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        # Transient errors (timeouts, 5xx) are worth retrying later and are never cached.
        self.transient = transient

    # Set on an error of a Gemini call only: the requests it made still count (read with getattr).
    usage: "Usage"

    @property
    def stage(self) -> str:
        return self.kind.split(".", 1)[0]


class QuotaExhausted(SourceError):
    """The model's daily quota is spent: no more calls this run (the rate gate is closed)."""

    def __init__(self, message: str):
        super().__init__("gemini.quota_exhausted", message)


class BudgetReached(SourceError):
    """The run's spend cap (``--max-cost``) would be passed by this call: no more Gemini calls this run. Transient:
    the image's answer is not this, so it is never cached; the next run, with its own budget, reads it."""

    def __init__(self, max_cost: float, spent: float):
        super().__init__("gemini.budget_reached", f"the spend cap of {usd(max_cost)} is reached ({usd(spent)} spent); "
                         "no more Gemini calls this run", transient=True)
        self.max_cost, self.spent = max_cost, spent

    def __reduce__(self):  # pickled by its own arguments (an exception's default is its message)
        return type(self), (self.max_cost, self.spent)


def usd(amount: float) -> str:
    """Dollars as a message shows them: in cents when they are whole ("$5.00"), else to the millionth without
    trailing zeros ("$0.006", "$0.004832")."""
    return f"${amount:.2f}" if round(amount, 2) == round(amount, 6) else f"${amount:.6f}".rstrip("0")


class RunError(RuntimeError):
    """The run as a whole cannot complete (bad key, unknown model, cluster gone): one message, exit code 3."""


class MainGuardError(SystemExit):
    """A script starts daskparse's worker processes while it is still loading (no ``if __name__ == "__main__":``):
    each process would load the script again and run the whole job again (daskparse.main_guard).

    A SystemExit, so that the script stops with its one line (Python prints a SystemExit's message alone, with no
    traceback, and exits 1), and so that an ``except Exception`` around the call cannot let the script go on."""


@dataclass(frozen=True)
class ErrorRecord:
    """One row of the errors table (``ERROR_COLUMNS``), and whether it may pass (never cached if so)."""

    source: str
    cleaned_url: str
    stage: str
    kind: str
    message: str
    transient: bool = False  # not a column: a timeout or a 5xx, worth trying again next run

    def row(self) -> dict[str, str]:
        """The errors table's columns."""
        return {column: getattr(self, column) for column in ERROR_COLUMNS}

    def __post_init__(self) -> None:  # a message may quote a server or a file: no terminal escapes in it
        object.__setattr__(self, "message", strip_controls(self.message))

    @classmethod
    def from_error(cls, source: str, cleaned_url: str, error: SourceError) -> "ErrorRecord":
        return cls(source, cleaned_url, error.stage, error.kind, error.message, error.transient)


ERROR_COLUMNS = ["source", "cleaned_url", "stage", "kind", "message"]
