#!/usr/bin/env python3
"""nlsql-infra: build the CloudFormation templates of one or all environments, and deploy them.

    python build.py              build every environment in params/
    python build.py prod         build one (or several) environments
    python build.py --check      exit 1 and list the files under templates/ that a build would change
    python build.py prod --cost  build, then print a monthly cost estimate per environment (from the templates)
    python build.py dev --plan   build, then show what a deploy would change (nothing is executed)
    python build.py dev --deploy build, then deploy through a change set
    python build.py prod --diff  build, then compare with the templates at the merge base with main (offline):
                                 resource by resource, with replacement predictions; --diff=REF, --diff deployed
    python build.py dev --status | --follow | --delete
    python build.py dev staging --plan   several environments at once: in parallel across accounts and regions
    python build.py prod --drift  detect drift of the stack and every nested stack; exit 1 if any drifted
    python build.py --stacksets --plan  preview the account-wide stack sets of every environment's account
    python build.py --stacksets        ... then create or update them (StackSets, self-managed)
    python build.py prod --role deploy print the ARN of prod's GitHub deploy role, and its region (CI)

Every template is linted with cfn-lint and checked against CloudFormation's
limits before anything is written; a build that fails writes nothing and
deploys nothing. Lint verdicts and a stamp of the last build are kept in
.cache/ (README "Speed"), so a rebuild lints only what changed.
"""

from __future__ import annotations

import argparse
import errno
import gc
import os
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STARTED = time.perf_counter()
ACTIONS = ("deploy", "plan", "status", "follow", "delete", "diff", "drift")
SEVERAL = ("deploy", "plan", "status", "drift")  # the actions that take several ENVs (builders/deploy/many.py)
MERGE_BASE = "(the merge base with main)"  # --diff given no REF


# The import name of each package build.py needs, and the distribution that installs it (setup.cfg).
DISTRIBUTIONS = {
    "troposphere": "troposphere",
    "awacs": "awacs",
    "cfnlint": "cfn-lint",
    "yaml": "PyYAML",
    "boto3": "boto3",
    "botocore": "boto3",
    "pydantic": "pydantic",
    "rich": "rich",
    "graphviz": "graphviz",
    "graphviz_pure": "graphviz-pure",
}
STDOUT_ERRNOS = {errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _endpoint_url(value: str) -> str:
    """An http(s) URL with a host, or argparse's one-line usage error (exit 2) saying what is wrong."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parses the port: 'http://host:x' raises here
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a URL ({exc}); e.g. http://127.0.0.1:5000") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an http:// or https:// URL with a host; e.g. http://127.0.0.1:5000"
        )
    return value


def _missing_package(exc: ModuleNotFoundError) -> str | None:
    """One paragraph for a dependency this Python lacks (build.py run outside the venv), or None if it is ours."""
    top = (exc.name or "").split(".")[0]
    if top not in DISTRIBUTIONS:
        return None
    return (
        f"error: build.py needs the package {DISTRIBUTIONS[top]!r} (module {top!r}), which this Python "
        f"({sys.executable}) does not have. Run it with the project's virtualenv, `.venv/bin/python build.py`, "
        f"or create that first: `python3 -m venv .venv && .venv/bin/pip install -e .` (README, first command)."
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build.py",
        description="Build (and deploy) the CloudFormation templates of nlsql-infra.",
        epilog="Exit status: 0 done (or fresh, or no changes), 1 lint/limit failure, stale templates, a refused or "
        "failed deploy or stack set operation, 2 bad params or usage, 130 interrupted. With --diff: 0 no changes, 1 "
        "changes, 3 a stateful resource would be removed or (maybe) replaced (a deploy would refuse it without "
        "--allow-replacement), 2 any error (a bad ref, bad params, a lint failure, no git). With --drift: 0 in sync, "
        "1 drifted, 2 unknown (not deployed, a detection failed or timed out, AWS refused).",
    )
    parser.add_argument("envs", nargs="*", metavar="ENV", help="environments to build (default: every params/*.yaml)")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 listing every stale file under the output folder"
    )
    parser.add_argument("--params-dir", type=Path, default=HERE / "params", help="where <env>.yaml files are")
    parser.add_argument("--out", type=Path, default=HERE / "templates", help="output folder (default: templates/)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list the templates cfn-lint had to lint")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="lint every template and re-render even if nothing changed (ignore and do not update .cache/; "
        "NLSQL_CACHE_DIR=DIR moves it, NLSQL_CACHE_DIR=off is the same as this flag)",
    )
    parser.add_argument(
        "--cost", action="store_true", help="after building, print a monthly cost estimate of each environment built"
    )

    aws = parser.add_argument_group(
        "deploying (--deploy, --plan and --status take several ENVs: in parallel where their accounts or regions "
        "differ, one after another where they share both; --follow and --delete take one) and reviewing (--diff: "
        "any number, none for all)"
    )
    actions = aws.add_mutually_exclusive_group()
    actions.add_argument("--deploy", action="store_true", help="build, then deploy through a change set")
    actions.add_argument("--plan", action="store_true", help="build, then preview the change set; execute nothing")
    actions.add_argument("--status", action="store_true", help="show the stack's status and outputs")
    actions.add_argument("--follow", action="store_true", help="follow the stack's running operation to its end")
    actions.add_argument("--delete", action="store_true", help="delete a non-production environment's stack")
    actions.add_argument(
        "--diff",
        nargs="?",
        const=MERGE_BASE,
        metavar="REF",
        help="build, then compare the templates with those committed at git REF (default: the merge base of HEAD "
        "with main), or with the deployed stacks (`--diff deployed`); needs no AWS access for a REF. Put it after "
        "the ENVs, or write --diff=REF",
    )
    aws.add_argument(
        "--drift",
        action="store_true",
        help="detect drift of the stack and every nested stack (no build); exit 0 in sync, 1 drifted, 2 unknown; "
        "with --diff: both in one view, and where they meet",
    )
    aws.add_argument(
        "--stacksets",
        action="store_true",
        help="deploy the account-wide stacks (nlsql-bootstrap, nlsql-github-oidc) as StackSets to the account and "
        "region of each ENV (default: every params/*.yaml), from the caller's account; with --plan: preview only",
    )
    aws.add_argument(
        "--role",
        action="append",
        choices=("plan", "deploy", "cfn-exec"),
        help="print ENV's GitHub role ARN (plan, deploy, or cfn-exec for --role-arn) and region as key=value lines "
        "for $GITHUB_OUTPUT; asks nothing of AWS; repeatable",
    )
    aws.add_argument("--change-set-name", metavar="NAME", help="with --plan: keep the change set under NAME; "
                     "with --deploy: execute the change set NAME if it exists (exactly what was reviewed)")  # fmt: skip
    aws.add_argument("-y", "--yes", action="store_true", help="do not ask before executing or deleting (CI)")
    aws.add_argument("--allow-replacement", action="store_true", help="deploy even if stateful resources are replaced")
    aws.add_argument(
        "--recreate-failed", action="store_true", help="delete a ROLLBACK_COMPLETE stack and create it again"
    )
    aws.add_argument(
        "--retain",
        action="append",
        metavar="PATH",
        help="with --delete on a DELETE_FAILED stack: leave this resource (its path in the failure report, e.g. "
        "nlsql-dev/Network/AlbSecurityGroup) in AWS and delete the rest; repeatable",
    )
    aws.add_argument(
        "--summary",
        metavar="FILE",
        type=Path,
        help="append a Markdown rendering to FILE (e.g. $GITHUB_STEP_SUMMARY)",
    )
    aws.add_argument("--role-arn", metavar="ARN", help="CloudFormation's service role for the change sets (e.g. in CI)")
    aws.add_argument("--region", help="the params file's region, repeated as a check (any other is refused)")
    aws.add_argument("--profile", help="AWS profile from ~/.aws/config")
    aws.add_argument(
        "--endpoint-url", metavar="URL", type=_endpoint_url, help="an AWS-compatible endpoint, e.g. a local moto server"
    )
    return parser


# What --stacksets cannot be combined with: it deploys stack sets, not an environment's stack.
NOT_WITH_STACKSETS = ("deploy", "status", "follow", "delete", "check", "cost", "change_set_name", "recreate_failed",
                      "retain", "role_arn", "role")  # fmt: skip


def parse(argv: list[str] | None = None) -> tuple[argparse.ArgumentParser, argparse.Namespace, str | None]:
    """The parsed command line and its action, or argparse's usage error (exit 2) for a combination that makes no
    sense; nothing is imported or done here (tests/test_readme.py parses every command the README shows)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.role:
        others = [f"--{a}" for a in (*ACTIONS, "check", "cost", "stacksets") if getattr(args, a) not in {None, False}]
        if len(args.envs) != 1 or others:
            parser.error("--role takes exactly one ENV and nothing else: python build.py prod --role deploy")
        return parser, args, "role"
    if args.stacksets:
        clash = [f"--{a.replace('_', '-')}" for a in NOT_WITH_STACKSETS if getattr(args, a) not in {None, False}]
        if clash:
            parser.error(f"--stacksets cannot be combined with {', '.join(clash)} (it takes ENVs, --plan, --yes, "
                         "--allow-replacement, --region, --profile, --endpoint-url)")  # fmt: skip
        args.action = "stacksets-plan" if args.plan else "stacksets"
    action = (
        args.action if args.stacksets else next((a for a in ACTIONS if getattr(args, a) not in {None, False}), None)
    )
    if action in SEVERAL and not args.envs:
        parser.error(f"--{action} needs at least one ENV (e.g. `build.py dev --{action}`)")
    if action in ACTIONS and action not in {*SEVERAL, "diff"} and len(args.envs) != 1:
        parser.error(f"--{action} takes exactly one ENV")
    if args.drift and action not in {"diff", "drift"}:
        parser.error(f"--drift goes alone, or with --diff (both in one view); not with --{action or 'check'}")
    if action and args.check:
        parser.error(f"--check cannot be combined with --{action}")
    if args.summary and action not in {"diff", "drift"}:
        parser.error("--summary goes with --diff or --drift (it appends their report as Markdown to FILE)")
    if args.retain and action != "delete":
        parser.error("--retain goes with --delete (it names resources a failed delete left behind)")
    if args.cost and (args.check or action in {"status", "follow", "delete", "drift"}):
        parser.error(f"--cost estimates what a build renders; it cannot be combined with --{action or 'check'}")
    return parser, args, action


def main(argv: list[str] | None = None) -> int:
    parser, args, action = parse(argv)
    if action == "role":
        from builders.cli import show_roles  # no rich, no boto3: it reads params only

        return show_roles(args.params_dir, args.envs[0], args.role)
    from builders.cli import on_sigterm, run, run_several  # after argparse, so --help does not pay for the imports

    signal.signal(signal.SIGTERM, on_sigterm)  # SIGTERM unwinds like Ctrl-C: temp files removed, the truth told
    if action in SEVERAL and len(set(args.envs)) > 1:
        return run_several(parser, args, action, Path(__file__).resolve(), STARTED)
    return run(
        envs=args.envs,
        check=args.check,
        params_dir=args.params_dir,
        out_dir=args.out,
        quiet=args.quiet,
        started=STARTED,
        action=action,
        aws=args,
        cost=args.cost,
        cache=not args.no_cache,
        verbose=args.verbose,
        diff_ref=None if args.diff == MERGE_BASE else args.diff,
        summary_file=args.summary,
    )


if __name__ == "__main__":
    try:
        status = main()
        sys.stdout.flush()
    except KeyboardInterrupt:  # Ctrl-C while Python imports, before run() takes it over (it says what was written)
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except ModuleNotFoundError as exc:
        message = _missing_package(exc)
        if message is None:
            raise
        print(message, file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        if exc.filename is not None or exc.errno not in STDOUT_ERRNOS:
            raise
        # Standard output is full or gone (`> /dev/full`, a closed pipe): say so once, where it can be seen.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"error: cannot write to standard output: {exc.strerror}", file=sys.stderr)
        sys.exit(1)
    # The interpreter's last collections at exit would walk every object the build made (a tenth of a second
    # of a full build); frozen objects are skipped, and the memory goes back to the system with the process.
    gc.freeze()
    sys.exit(status)
