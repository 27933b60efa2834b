"""``python -m ringlog ...`` and the ``ringlog`` console script: the ringlog command line.

The same commands as the native ``ringlog`` binary (serve, status, runs, tail,
export, demo, shutdown), compiled into the extension. Auto-start runs the
service through the console script (docs/decisions.md, ADR P1).
"""

import os
import signal
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Behave as the native binary: Ctrl-C stops a foreground `serve` at once.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from ._native import cli_main

    code = cli_main(["ringlog", *args])
    if args[:1] == ["serve"]:
        # The service ran in this process (as a daemon, in a forked copy of
        # it): leave without running Python's exit machinery in that copy.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
