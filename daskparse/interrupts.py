"""Ctrl-C in the command line's first second or two, while its libraries load and before a run can take it.

A KeyboardInterrupt raised inside an import ended in a traceback; raised inside one of the callbacks imports run,
it was swallowed ("Exception ignored in ...") and the run went on as if nothing had been pressed; and once it
had passed through code ``exec``-ed from a string (dataclasses, namedtuple), Python ended the process by SIGINT
(-2) whatever its exit code was to be. So it is noted here, not raised, and acted on once the libraries are
loaded (``cli.main``). Nothing but ``signal`` is imported: ``python -m daskparse`` installs it first thing.
"""

from __future__ import annotations

import signal


class EarlyInterrupts:
    """Notes SIGINT from now until ``release()``; leaves alone a SIGINT someone set to be ignored or handled."""

    def __init__(self) -> None:
        self.pressed = 0
        self._noting = signal.getsignal(signal.SIGINT) is signal.default_int_handler
        if self._noting:
            signal.signal(signal.SIGINT, self._note)

    def _note(self, number: int, frame) -> None:
        self.pressed += 1

    def release(self) -> bool:
        """Ctrl-C raises KeyboardInterrupt again (or goes to whoever takes it next); whether it was pressed."""
        if self._noting:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._noting = False
        return self.pressed > 0
