"""`build.py --stacksets`: the account-wide stacks in every environment's account and region, through StackSets.

Two stack sets, nlsql-bootstrap (templates/bootstrap.yaml) and nlsql-github-oidc (templates/github-oidc.yaml),
with self-managed permissions (README "StackSets" says why not service-managed): they live in the
administrator account, which is the caller's (STS), and must be one of the accounts params/ names; the
stack instances are the (account_id, region) pairs of the environments named (default: all). StackSets
reaches each target through the administration role of this account and the execution role of the target
(templates/stackset-admin.yaml, stackset-execution.yaml), which an administrator deploys first.

The steps are a deploy's: check the account and the administration role, preview (stackset_plan), guard the
stateful resources, confirm, then CreateStackSet / UpdateStackSet / UpdateStackInstances /
CreateStackInstances, following each operation to its end. Instances are never removed here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from builders import bootstrap, github
from builders.build.pipeline import Artifact
from builders.build.transaction import Interrupted
from builders.config import EnvConfig
from builders.deploy import stackset_plan
from builders.deploy.aws import Aws, Target, aws_errors, describe_error, error_code
from builders.deploy.guard import describe_danger
from builders.deploy.run import confirm
from builders.deploy.stackset_plan import Pair, Plan, Row, Wanted
from builders.errors import BuildError, ConfigError
from builders.naming import ACCOUNT_WIDE, PROJECT, STACKSET_ADMIN_ROLE, STACKSET_EXECUTION_ROLE
from builders.tags import tag_dict

ADMIN_TEMPLATE = "stackset-admin.yaml"
EXECUTION_TEMPLATE = "stackset-execution.yaml"
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
# One account at a time and no failure tolerated: a template that fails somewhere stops before the next account.
PREFERENCES = {"RegionConcurrencyType": "PARALLEL", "FailureToleranceCount": 0, "MaxConcurrentCount": 1}
DONE = {"SUCCEEDED", "FAILED", "STOPPED"}
POLL = (1.0, 5.0)  # seconds between looks at an operation: from the first, growing to the second


@dataclass(frozen=True)
class Options:
    """What the user asked for, and every environment of params/ (the accounts an administrator may be in)."""

    profile: str | None
    endpoint_url: str | None
    region: str | None  # --region: where the stack sets live; None: see _home_region
    plan_only: bool
    yes: bool
    allow_replacement: bool
    interactive: bool
    every_env: tuple[EnvConfig, ...]
    params_dir: str


def options(action: str, aws: Any, params_dir: Any) -> Options:
    """build.py's arguments as Options (every params file loaded: all their errors at once, as a build's)."""
    from builders import params
    from builders.deploy.run import interactive

    every = list(params.load_all(params_dir, params.environments(params_dir)).values())
    return Options(aws.profile, aws.endpoint_url, aws.region, action == "stacksets-plan", aws.yes,
                   aws.allow_replacement, interactive(), tuple(every), str(params_dir))  # fmt: skip


def run(targets: list[EnvConfig], artifacts: list[Artifact], opts: Options, console: Console) -> int:
    """Check, preview, guard, confirm, apply, follow; the exit status (0 done or planned, 1 failed, 130)."""
    try:
        return _run(targets, artifacts, opts, console)
    except aws_errors() as exc:
        raise BuildError(describe_error(exc)) from None


def _run(targets: list[EnvConfig], artifacts: list[Artifact], opts: Options, console: Console) -> int:
    texts = {a.filename: a.text for a in artifacts if not a.env}
    wanted = wanted_stack_sets(targets, texts)  # params problems before any AWS call
    aws, admin = _administrator(opts)
    region = aws.target.region
    _check_admin_role(aws, admin, targets)
    cf = aws.client("cloudformation")
    plans = []
    for w in wanted:
        plans.append(stackset_plan.plan(cf, _creator_first(cf, w), region))
    stackset_plan.show(console, plans, admin, region)
    if opts.plan_only:
        console.print("plan only: nothing was changed", highlight=False)
        return 0
    _guard(plans, opts, console)
    if not any(p.changes for p in plans):
        console.print("stack sets: no changes", highlight=False)
        return 0
    if not confirm("apply these stack set changes?", opts):  # type: ignore[arg-type]
        why = "not confirmed" if opts.interactive else "no terminal to ask on and no --yes"
        raise BuildError(f"{why}: no stack set was created or changed (pass --yes to apply without asking)")
    admin_role = f"arn:{_partition(aws)}:iam::{admin}:role/{STACKSET_ADMIN_ROLE}"
    for p in plans:
        code = _apply(cf, p, admin_role, console, opts)
        if code:
            return code
    return 0


# --- what is wanted -----------------------------------------------------------------------------------------


def wanted_stack_sets(targets: list[EnvConfig], texts: dict[str, str]) -> list[Wanted]:
    """The two stack sets with each target (account, region)'s overrides; a ConfigError for params that
    cannot say what the GitHub stack set's Repository is."""
    pairs = sorted({(cfg.account_id, cfg.region) for cfg in targets})
    boot = Wanted(bootstrap.STACK_NAME, bootstrap.FILENAME, texts[bootstrap.FILENAME], {}, {p: {} for p in pairs})
    repositories: dict[Pair, str] = {}
    problems = []
    for cfg in sorted(targets, key=lambda c: c.environment):
        where = f"params/{cfg.environment}.yaml"
        pair = (cfg.account_id, cfg.region)
        if cfg.github_repository is None:
            problems.append(f"{where}: github_repository is not set; --stacksets deploys {github.STACK_NAME} to "
                            f"account {cfg.account_id} and {cfg.region} with it as the Repository whose workflows "
                            "may deploy there: set it to owner/name")  # fmt: skip
        elif repositories.setdefault(pair, cfg.github_repository) != cfg.github_repository:
            problems.append(f"{where}: github_repository is {cfg.github_repository}, but another environment in "
                            f"account {cfg.account_id} and {cfg.region} names {repositories[pair]}: one GitHub "
                            "stack per account and region trusts one repository; make them the same")  # fmt: skip
    if problems:
        raise ConfigError("\n".join(problems))
    instances = {pair: {"Repository": repositories[pair], "ExistingProviderArn": ""} for pair in pairs}
    first = next(iter(instances.values()))
    oidc = Wanted(github.STACK_NAME, github.FILENAME, texts[github.FILENAME], dict(first), instances)
    return [boot, oidc]


def _creator_first(cf: Any, wanted: Wanted) -> Wanted:
    """The GitHub stack set with ExistingProviderArn per instance: an account has one GitHub OIDC provider, so
    one region of each account creates it (the region whose instance already does, else the first region
    sorted) and every other region passes its ARN, which is known from the account id."""
    if wanted.name != github.STACK_NAME:
        return wanted
    creators = _existing_creators(cf, wanted.name)
    instances = {}
    for account, region in sorted(wanted.instances):
        creator = creators.setdefault(account, region)
        overrides = dict(wanted.instances[account, region])
        overrides["ExistingProviderArn"] = "" if region == creator else github.provider_arn(account)
        instances[account, region] = overrides
    return Wanted(wanted.name, wanted.template_file, wanted.text, wanted.parameters, instances)


def _existing_creators(cf: Any, name: str) -> dict[str, str]:
    """account -> the region whose existing instance creates the provider (ExistingProviderArn empty)."""
    try:
        summaries = list(stackset_plan._instances(cf, name))
    except aws_errors() as exc:
        if error_code(exc) in {"StackSetNotFoundException", "StackSetNotFound"}:
            return {}
        raise
    creators: dict[str, str] = {}
    for s in sorted(summaries, key=lambda s: (s["Account"], s["Region"])):
        instance = cf.describe_stack_instance(StackSetName=name, StackInstanceAccount=s["Account"],
                                              StackInstanceRegion=s["Region"])["StackInstance"]  # fmt: skip
        overrides = {p["ParameterKey"]: p.get("ParameterValue", "") for p in instance.get("ParameterOverrides") or []}
        if overrides.get("ExistingProviderArn", "") == "":
            creators.setdefault(s["Account"], s["Region"])
    return creators


# --- the checks before anything is changed -----------------------------------------------------------------------


def _administrator(opts: Options) -> tuple[Aws, str]:
    """The caller's account, which must be one that params/ names: the administrator account."""
    known = {cfg.account_id: cfg for cfg in sorted(opts.every_env, key=lambda c: c.environment)}
    probe = Aws(Target(region=opts.region or "us-east-1", profile=opts.profile, endpoint_url=opts.endpoint_url))
    identity = probe.client("sts").get_caller_identity()
    account = identity["Account"]
    if account not in known:
        raise BuildError(
            f"the credentials are for account {account} ({identity.get('Arn', '?')}), which is the account_id of "
            f"no environment in {opts.params_dir} ({', '.join(sorted(known))}): nothing was done. The stack sets "
            "live in the account that runs --stacksets, the administrator account, and it must be one of the "
            "environments' accounts: use its credentials (--profile NAME, AWS_PROFILE)"
        )
    region = opts.region or known[account].region
    target = Target(region=region, profile=opts.profile, endpoint_url=opts.endpoint_url, account_id=account,
                    source=f"{opts.params_dir}/{known[account].environment}.yaml")  # fmt: skip
    return Aws(target), account


def _partition(aws: Aws) -> str:
    arn = (aws.identity or {}).get("Arn", "arn:aws:")
    return str(arn.split(":")[1])


def _check_admin_role(aws: Aws, admin: str, targets: list[EnvConfig]) -> None:
    """The administration role must exist before a stack set names it; else the commands that make both roles."""
    try:
        aws.client("iam").get_role(RoleName=STACKSET_ADMIN_ROLE)
        return
    except aws_errors() as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
    accounts = ", ".join(sorted({cfg.account_id for cfg in targets}))
    tags = "--tags Project=nlsql Environment=shared ManagedBy=cloudformation"
    raise BuildError(
        f"account {admin} has no role {STACKSET_ADMIN_ROLE}, which StackSets needs to reach the target accounts: "
        f"nothing was done. Deploy the StackSets roles first, with an administrator's credentials: in account "
        f"{admin}, `aws cloudformation deploy --template-file templates/{ADMIN_TEMPLATE} --stack-name "
        f"{PROJECT}-stackset-admin --capabilities CAPABILITY_NAMED_IAM {tags}`; then in each target account "
        f"({accounts}), `aws cloudformation deploy --template-file templates/{EXECUTION_TEMPLATE} --stack-name "
        f"{PROJECT}-stackset-execution --capabilities CAPABILITY_NAMED_IAM --parameter-overrides "
        f'AdministratorAccountId={admin} {tags}` (README "StackSets"); then run this again'
    )


def _guard(plans: list[Plan], opts: Options, console: Console) -> None:
    risky = [c for p in plans for c in p.danger]
    if not risky:
        return
    lines = "\n".join(f"  {describe_danger(c)}" for c in risky)
    if opts.allow_replacement:
        console.print(f"[yellow]--allow-replacement: going ahead although[/]\n{lines}")
        return
    raise BuildError(
        f"refusing to update the stack sets: the new template would replace or remove resources that hold state "
        f"in every instance:\n{lines}\nPass --allow-replacement if that is what you want; nothing was changed"
    )


# --- applying -----------------------------------------------------------------------------------------------


def _apply(cf: Any, p: Plan, admin_role: str, console: Console, opts: Options) -> int:
    """The calls that make one stack set as planned, each operation followed to its end; 0, 1 or 130."""
    name = p.wanted.name
    common = {"Capabilities": CAPABILITIES, "AdministrationRoleARN": admin_role,
              "ExecutionRoleName": STACKSET_EXECUTION_ROLE, "Tags": _tags()}  # fmt: skip
    operations: list[tuple[str, Any]] = []
    if not p.exists:
        cf.create_stack_set(StackSetName=name, TemplateBody=p.wanted.text, PermissionModel="SELF_MANAGED",
                            Description=f"{PROJECT}: templates/{p.wanted.template_file}, by build.py --stacksets",
                            Parameters=_parameters(p.wanted.parameters), **common)  # fmt: skip
        console.print(f"{name}: stack set created", highlight=False)
    elif p.template_differs:
        keep = [{"ParameterKey": k, "UsePreviousValue": True} for k in p.current_parameters]
        new = {k: v for k, v in p.wanted.parameters.items() if k not in p.current_parameters}
        operations.append(("update the stack set (every instance)", lambda: cf.update_stack_set(
            StackSetName=name, TemplateBody=p.wanted.text, Parameters=keep + _parameters(new),
            OperationPreferences=PREFERENCES, **common)))  # fmt: skip
    for account, regions, overrides in _groups([r for r in p.rows_doing("update") if r.instance_update]):
        operations.append((f"update instances in {account}", lambda a=account, r=regions, o=overrides: (
            cf.update_stack_instances(StackSetName=name, Accounts=[a], Regions=r, ParameterOverrides=_parameters(o),
                                      OperationPreferences=PREFERENCES))))  # fmt: skip
    for account, regions, overrides in _groups(p.rows_doing("create")):
        operations.append((f"create instances in {account}", lambda a=account, r=regions, o=overrides: (
            cf.create_stack_instances(StackSetName=name, Accounts=[a], Regions=r, ParameterOverrides=_parameters(o),
                                      OperationPreferences=PREFERENCES))))  # fmt: skip
    for what, call in operations:
        operation_id = call()["OperationId"]
        console.print(f"{name}: {what}: operation {operation_id}", highlight=False)
        code = follow(cf, name, operation_id, console, opts.interactive)
        if code:
            return code
    if not operations and p.exists:
        console.print(f"{name}: no changes", highlight=False)
    return 0


def _groups(rows: list[Row]) -> list[tuple[str, list[str], dict[str, str]]]:
    """Instances as calls: one per account and set of overrides (a call takes every account x region named),
    those that create the GitHub provider (ExistingProviderArn empty) before those that pass its ARN."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    for row in rows:
        groups.setdefault((row.account, tuple(sorted(row.overrides.items()))), []).append(row.region)
    ordered = sorted(groups.items(), key=lambda g: (dict(g[0][1]).get("ExistingProviderArn", "") != "", g[0][0]))
    return [(account, regions, dict(overrides)) for (account, overrides), regions in ordered]


def _parameters(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def _tags() -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tag_dict(ACCOUNT_WIDE, "stacksets").items() if k != "Module"]


# --- following ----------------------------------------------------------------------------------------------


def follow(cf: Any, name: str, operation_id: str, console: Console, interactive: bool,
           sleep: Any = time.sleep) -> int:  # fmt: skip
    """Until the operation ends: each instance's status as it changes; on failure each failed instance's
    account, region and reason (exit 1); Ctrl-C stops the waiting, not the operation (exit 130)."""
    seen: dict[Pair, str] = {}
    delay = POLL[0]
    try:
        with console.status(f"{name}: operation {operation_id} running...") if interactive else _Quiet():
            while True:
                status = cf.describe_stack_set_operation(StackSetName=name, OperationId=operation_id)[
                    "StackSetOperation"]["Status"]  # fmt: skip
                results = _results(cf, name, operation_id)
                for r in results:
                    pair = (r["Account"], r["Region"])
                    if seen.get(pair) != r["Status"]:
                        seen[pair] = r["Status"]
                        console.print(f"  {name} {pair[0]} {pair[1]}: {r['Status']}", highlight=False, markup=False)
                if status in DONE:
                    break
                sleep(delay)
                delay = min(delay * 1.5, POLL[1])
    except (KeyboardInterrupt, Interrupted) as exc:  # Ctrl-C, or SIGTERM (build.py turns it into Interrupted)
        console.print(
            f"stopped waiting; operation {operation_id} of stack set {name} continues in AWS. Stop it with: aws "
            f"cloudformation stop-stack-set-operation --stack-set-name {name} --operation-id {operation_id} "
            f"(see it with `python build.py --stacksets --plan`)",
            highlight=False,
            markup=False,
        )
        return Interrupted.exit_code if isinstance(exc, Interrupted) else 130
    if status == "SUCCEEDED":
        console.print(f"{name}: operation {operation_id} SUCCEEDED", highlight=False)
        return 0
    console.print(f"[bold red]{name}: operation {operation_id} ended {status}[/]; the instances that failed:",
                  highlight=False)  # fmt: skip
    failed = [r for r in results if r["Status"] in {"FAILED", "CANCELLED"}] or results
    for r in failed:
        console.print(f"  account {r['Account']}, region {r['Region']}: {r['Status']}: "
                      f"{r.get('StatusReason', 'no reason given')}", highlight=False, markup=False)  # fmt: skip
    console.print("Nothing else was changed after it. Fix the cause and run `python build.py --stacksets` again "
                  "(an instance whose last operation failed is updated again)", highlight=False)  # fmt: skip
    return 1


def _results(cf: Any, name: str, operation_id: str) -> list[dict[str, Any]]:
    found = []
    for page in cf.get_paginator("list_stack_set_operation_results").paginate(
        StackSetName=name, OperationId=operation_id
    ):
        found += page["Summaries"]
    return found


class _Quiet:
    """No spinner where nobody watches (CI): the per-instance lines are the progress."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
