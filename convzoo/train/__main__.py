"""``python -m convzoo.train ...``: the training commands without the rest of the CLI."""

from convzoo.train.cli import main

raise SystemExit(main())
