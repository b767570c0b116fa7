from daskparse.cli import main

raise SystemExit(main())
