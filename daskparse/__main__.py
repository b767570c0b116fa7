from daskparse.interrupts import EarlyInterrupts

early = EarlyInterrupts()  # first thing: Ctrl-C while the libraries below load (daskparse.interrupts)

from daskparse.cli import entry  # noqa: E402

entry(early)
