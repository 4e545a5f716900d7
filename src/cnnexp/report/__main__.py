"""`python -m cnnexp.report PATH`: write the sweep report for the multirun folder PATH and print its table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cnnexp.errors import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cnnexp.report",
        description="Write report.md, report.csv and the plots into a sweep folder (a multirun's hydra.sweep.dir).",
    )
    parser.add_argument("path", help="the sweep folder, e.g. outputs/sweeps/2025-01-01_12-00-00")
    args = parser.parse_args(argv)
    from cnnexp.report.build import write_report  # after parsing: --help needs no matplotlib or tensorboard

    try:
        report = write_report(args.path)
    except ConfigError as err:
        print(f"cnnexp: error: {err}", file=sys.stderr)
        return 2
    print(report.markdown)
    print("written: " + "  ".join(str(p) for p in report.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
