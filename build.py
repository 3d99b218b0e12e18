#!/usr/bin/env python3
"""nlsql-infra: build the CloudFormation templates of one or all environments.

    python build.py              build every environment in params/
    python build.py prod         build one (or several) environments
    python build.py --check      exit 1 and list the files under templates/ that a build would change

Every template is linted with cfn-lint and checked against CloudFormation's
limits before anything is written; a build that fails writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STARTED = time.perf_counter()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build.py",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
        epilog="Exit status: 0 built (or fresh), 1 lint/limit failure or stale templates, 2 bad params or usage.",
    )
    parser.add_argument("envs", nargs="*", metavar="ENV", help="environments to build (default: every params/*.yaml)")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 listing every stale file under the output folder"
    )
    parser.add_argument(
        "--params-dir", type=Path, default=HERE / "params", help="where <env>.yaml files are (default: params/)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "templates", help="output folder (default: templates/)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from builders.cli import run  # after argparse, so --help does not pay for the imports

    return run(
        envs=args.envs,
        check=args.check,
        params_dir=args.params_dir,
        out_dir=args.out,
        quiet=args.quiet,
        started=STARTED,
    )


if __name__ == "__main__":
    sys.exit(main())
