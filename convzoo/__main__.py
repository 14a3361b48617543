import shlex
import sys

try:
    from convzoo.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python loads convzoo's commands: one line, no traceback
    again = shlex.join(["convzoo", *sys.argv[1:]])
    print(f"convzoo: interrupted: while starting, before anything ran; to run it again: {again}", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
