from daskparse.cli import entry

entry()
