"""The deploy commands: deploy (or plan), status, follow (delete: teardown.py).

`apply()` is the one path by which any stack changes (the bootstrap stack
and an environment's root alike): make a change set, show it, guard the
stateful resources, confirm, execute, follow. Everything the user can get
wrong or AWS can refuse ends in a BuildError with the way out.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from builders import bootstrap
from builders import iam as policies
from builders.build.pipeline import Artifact
from builders.config import EnvConfig
from builders.deploy import changeset, guard, preview, triggers, upload
from builders.deploy.aws import Aws, Target, aws_errors, describe_error, error_code
from builders.deploy.follow import follow, is_terminal, succeeded
from builders.errors import BuildError
from builders.tags import tag_dict

PREFIX = "nlsql"


@dataclass(frozen=True)
class Options:
    """What the user asked for on the command line."""

    target: Target
    change_set_name: str | None = None
    plan_only: bool = False
    yes: bool = False
    allow_replacement: bool = False
    recreate_failed: bool = False
    interactive: bool = False
    # CloudFormation's service role (templates/github-oidc.yaml's ExecutionRoleArn): the caller then needs no
    # rights on the resources themselves, only to make and run change sets and pass this role.
    role_arn: str | None = None
    # With --delete on a DELETE_FAILED stack: resources (by their failure-report path) to leave in AWS.
    retain: tuple[str, ...] = ()


def stack_name(env: str) -> str:
    return f"{PREFIX}-{env}"


def interactive() -> bool:
    """A person at a terminal who can answer a question."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def aws_guarded(fn):  # noqa: ANN001, ANN202 - a decorator for the commands below
    """Turn AWS's refusals into BuildErrors and Ctrl-C into a clean stop."""

    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            return fn(*args, **kwargs)
        except aws_errors() as exc:
            raise BuildError(describe_error(exc)) from None

    return wrapper


# --- deploy ---------------------------------------------------------------------------------


@aws_guarded
def deploy(cfg: EnvConfig, artifacts: list[Artifact], opts: Options, console: Console) -> int:
    """Bootstrap if needed, upload the children, then apply the root's change set."""
    aws = Aws(opts.target)
    files = {a.filename: a for a in artifacts if a.env == cfg.environment}
    (boot,) = [a for a in artifacts if not a.env and a.filename == bootstrap.FILENAME]
    bucket = ensure_bootstrap(aws, boot, opts, console, cfg.environment)
    s3 = aws.client("s3")
    urls = {}

    def url(key: str) -> str:
        return upload.url_for(bucket, key, opts.target.region, opts.target.endpoint_url)

    area = upload.PLANS if opts.plan_only else upload.DEPLOYS
    for name, artifact in files.items():
        if name.endswith(".yaml") and name != "root.yaml":
            key = upload.key_for(cfg.environment, name, artifact.text, area)
            uploaded = upload.put_if_missing(s3, bucket, key, artifact.text)
            console.print(
                f"{'uploaded' if uploaded else 'unchanged'} {artifact.relpath} -> s3://{bucket}/{key}", highlight=False
            )
            urls[name] = url(key)
    body = upload.packaged_root(files["root.yaml"], urls)
    template = upload.root_template(s3, bucket, cfg.environment, body, url, area=area)
    parameters = dict(p.split("=", 1) for p in json.loads(files["parameters.json"].text))
    watch = triggers.look_up(aws, cfg)
    return apply(
        aws,
        stack_name(cfg.environment),
        template,
        parameters,
        {k: v for k, v in tag_dict(cfg, "root").items() if k != "Module"},
        opts,
        console,
        protect=cfg.production,
        rollback=watch.configuration() if watch else triggers.NONE,
        watch=watch,
    )


UNFINISHED = {"ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"}  # a stack that holds nothing: its create failed or never ran


def ensure_bootstrap(aws: Aws, boot: Artifact, opts: Options, console: Console, env: str = "<env>") -> str:
    """The artifacts bucket's name, creating (or updating) the account's bootstrap stack first if needed.

    With --plan nothing is executed, the bootstrap included: a missing or
    unfinished bootstrap stops the plan with the command that creates it,
    and one that differs from templates/bootstrap.yaml is planned against
    as it is (the deploy updates it first).
    """
    cf = aws.client("cloudformation")
    name = bootstrap.STACK_NAME
    stack = _stack(cf, name)
    instance = _stackset_instance(cf) if stack is None else None
    if instance is not None:
        return _stackset_bucket(instance, boot, cf, console)
    status = stack["StackStatus"] if stack else None
    current = cf.get_template(StackName=name)["TemplateBody"] if stack and status not in UNFINISHED else None
    needs_work = stack is None or status in UNFINISHED or (current != boot.text and is_terminal(status or ""))
    missing = stack is None or status in UNFINISHED
    state = "does not exist yet" if stack is None else f"is {status} (its create did not finish)"
    by_hand = (
        f"`aws cloudformation deploy --template-file templates/bootstrap.yaml --stack-name {name} "
        "--capabilities CAPABILITY_NAMED_IAM`"
    )
    if opts.plan_only and missing:
        raise BuildError(
            f"{name} {state} in {opts.target.region}, and --plan executes nothing, so there is nowhere to upload "
            f"the templates to plan with. Create it first: `python build.py {env} --deploy` (it creates "
            f"{name}, then asks before the environment's change set"
            + (", with --recreate-failed for a failed one)" if status == "ROLLBACK_COMPLETE" else ")")
            + f", or {by_hand}; then plan again"
        )
    if opts.role_arn and missing:
        # Refused here, not by IAM minutes later: the execution role may not create the permissions boundary that
        # this stack holds and that caps every role the execution role makes (README "Permissions boundary").
        raise BuildError(
            f"{name} {state} in {opts.target.region}. It holds the permissions boundary that caps every role a "
            f"deploy makes, so it is created by an administrator, not through --role-arn (the execution role may "
            f"not create the boundary). With an administrator's credentials run `python build.py {env} --deploy` "
            f"without --role-arn, or {by_hand}; then deploy again"
        )
    if opts.plan_only and needs_work:
        console.print(f"note: {name} differs from templates/bootstrap.yaml; --deploy updates it first (not planned)")
    elif needs_work:
        if stack is None:
            console.print(
                f"first deploy to this account and region ({opts.target.region}): creating {name} "
                "(deploy artifacts bucket, ECR repositories)"
            )
        tags = {"Project": PREFIX, "Environment": "shared", "ManagedBy": "cloudformation"}
        bootstrap_opts = Options(
            opts.target,
            yes=True,
            allow_replacement=False,
            recreate_failed=opts.recreate_failed,
            interactive=opts.interactive,
            role_arn=opts.role_arn,
        )
        code = apply(aws, name, {"TemplateBody": boot.text}, {}, tags, bootstrap_opts, console)
        if code == 130:  # Ctrl-C while it was followed: an interruption (exit 130), not a failed bootstrap
            raise KeyboardInterrupt
        if code != 0:
            raise BuildError(f"{name} could not be created or updated; nothing else was deployed")
        stack = _stack(cf, name)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}
    if bootstrap.OUT_ARTIFACTS_BUCKET not in outputs:
        status = (stack or {}).get("StackStatus", "missing")
        raise BuildError(
            f"{name} is {status} and has no output {bootstrap.OUT_ARTIFACTS_BUCKET}, so the templates cannot be "
            f"uploaded; see its events (`aws cloudformation describe-stack-events --stack-name {name}`), then "
            f"`python build.py {env} --deploy --recreate-failed`"
        )
    return outputs[bootstrap.OUT_ARTIFACTS_BUCKET]


# The stack StackSets makes for a stack instance of nlsql-bootstrap (build.py --stacksets): StackSet-<set>-<id>.
STACKSET_BOOTSTRAP_PREFIX = f"StackSet-{bootstrap.STACK_NAME}-"
LIVE = (
    "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
)  # fmt: skip


def _stackset_instance(cf: Any) -> dict[str, Any] | None:
    """The account's bootstrap as a stack instance of the nlsql-bootstrap stack set, if StackSets made it."""
    for page in cf.get_paginator("list_stacks").paginate(StackStatusFilter=list(LIVE)):
        for summary in page["StackSummaries"]:
            if summary["StackName"].startswith(STACKSET_BOOTSTRAP_PREFIX):
                return _stack(cf, summary["StackName"])
    return None


def _stackset_bucket(stack: dict[str, Any], boot: Artifact, cf: Any, console: Console) -> str:
    """The artifacts bucket of a bootstrap that the stack set keeps: never changed here, only by --stacksets."""
    if cf.get_template(StackName=stack["StackName"])["TemplateBody"] != boot.text:
        console.print(f"note: {stack['StackName']} (the {bootstrap.STACK_NAME} stack set's instance) differs from "
                      "templates/bootstrap.yaml; `build.py --stacksets` updates it, not this deploy")  # fmt: skip
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if bootstrap.OUT_ARTIFACTS_BUCKET not in outputs:
        raise BuildError(f"{stack['StackName']} is {stack['StackStatus']} and has no output "
                         f"{bootstrap.OUT_ARTIFACTS_BUCKET}; see `python build.py --stacksets --plan`")  # fmt: skip
    return outputs[bootstrap.OUT_ARTIFACTS_BUCKET]


def apply(
    aws: Aws,
    name: str,
    template: dict[str, str],
    parameters: dict[str, str],
    tags: dict[str, str],
    opts: Options,
    console: Console,
    protect: bool = False,
    rollback: dict[str, Any] | None = None,
    watch: triggers.Triggers | None = None,
) -> int:
    """Change set -> preview -> guard -> confirm -> execute -> follow, for one stack.

    `rollback`: the change set's RollbackConfiguration (None: CloudFormation keeps the stack's); `watch`: the
    environment's rollback triggers as found, to say which are watched and, after a rollback, which did it.
    """
    cf = aws.client("cloudformation")
    kind = _kind(cf, name, opts, console)
    change_set = _reviewed(cf, name, opts)
    if change_set is None and opts.change_set_name and not opts.plan_only and (opts.yes or not opts.interactive):
        env = name.removeprefix(f"{PREFIX}-")
        raise BuildError(
            f"change set {opts.change_set_name} of {name} is gone (executed, deleted, or never made), and --yes "
            f"would execute an unreviewed one under its name: plan again with `python build.py {env} --plan "
            f"--change-set-name {opts.change_set_name}`, review it, then deploy it"
        )
    if change_set is None:
        set_name = opts.change_set_name or f"{name}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        console.print(f"creating change set {set_name} ({kind}) for {name}...")
        change_set_id = changeset.create(
            cf,
            stack_name=name,
            name=set_name,
            kind=kind,
            template=template,
            parameters=parameters,
            tags=tags,
            description=f"build.py for {name}",
            role_arn=opts.role_arn,
            rollback=rollback,
        )
        changeset.wait(cf, change_set_id)
        change_set = changeset.describe(cf, change_set_id)
    if change_set.empty:
        changeset.delete(cf, change_set.id)
        console.print(f"{name}: no changes")
        return 0
    if change_set.status != "CREATE_COMPLETE":
        raise _failed_change_set(cf, change_set, kind, name, opts)
    preview.show(console, change_set)
    if watch is not None:
        for line in triggers.lines(watch.wanted, change_set.rollback, watch.unreadable):
            console.print(line, highlight=False, markup=False)
    _guard(cf, change_set, kind, opts, console)
    if opts.plan_only:
        return _end_plan(cf, change_set, kind, opts, console, name.removeprefix(f"{PREFIX}-"))
    if not confirm(f"execute {change_set.name} on {name}?", opts):
        _discard(cf, change_set, kind, opts)
        raise BuildError(_refusal(change_set, opts))
    since = datetime.now(UTC) - timedelta(seconds=5)
    cf.execute_change_set(ChangeSetName=change_set.id)
    operation = "CREATE" if kind == "CREATE" else "UPDATE"
    goes_on = f"{name} keeps deploying in CloudFormation (the change set was executed). " + _follow_again(
        name, operation, aws.target.region
    )
    try:
        stack_id = change_set.stack_id or _stack(cf, name)["StackId"]
        resources = [c for c in change_set.changes if c.resource_type != "AWS::CloudFormation::Stack"]
        # Removals happen in the cleanup, after the triggers' monitoring: the watch begins once the rest is done.
        before_cleanup = sum(1 for c in resources if c.action != "Remove")
        outcome = follow(cf, stack_id, since=since, total=len(resources), console=console,
                         interactive=opts.interactive, watching=triggers.watched_names(change_set.rollback),
                         monitoring_minutes=change_set.rollback.get("MonitoringTimeInMinutes", 0),
                         before_cleanup=before_cleanup)  # fmt: skip
    except KeyboardInterrupt:
        console.print(f"stopped following; {goes_on}", markup=False)
        return 130
    except aws_errors() as exc:  # expired credentials, a network outage: the deploy itself is not affected
        raise BuildError(f"lost touch with AWS while following ({describe_error(exc)}); {goes_on}") from None
    _delete_nested_empty(cf, change_set)
    if not succeeded(outcome.status, operation):
        alarm = _rolled_back_by(aws, outcome, change_set.rollback)
        if alarm:
            _report_alarm_rollback(aws, console, name, outcome, alarm, kind)
        else:
            report_failure(console, name, outcome, production=protect)
        return 1
    if protect:
        _protect(cf, name, console)
    _show_outputs(console, _stack(cf, name))
    return 0


def _follow_again(name: str, operation: str, region: str) -> str:
    """How to see the rest of an operation this command stopped following: the account-wide bootstrap stack is
    no environment (`build.py bootstrap --follow` would find no params file), so for it, the AWS CLI's waiter."""
    if name == bootstrap.STACK_NAME:
        return (f"Wait for it with: aws cloudformation wait stack-{operation.lower()}-complete --stack-name {name} "
                f"--region {region}; then deploy again")  # fmt: skip
    return f"Follow it again with: python build.py {name.removeprefix(PREFIX + '-')} --follow"


def _rolled_back_by(aws: Aws, outcome: Any, rollback: dict[str, Any]) -> str | None:
    """The rollback trigger that rolled the operation back, if one did.

    CloudFormation names the alarm (by its ARN) in the reason of the stack's ROLLBACK_IN_PROGRESS or
    UPDATE_ROLLBACK_IN_PROGRESS event. Should the reason not name one, a rollback with no resource failure
    whose trigger is in ALARM now is taken to be that trigger's."""
    named = triggers.alarm_in(outcome.rollback_reason)
    if named:
        return named
    if outcome.failures or "ROLLBACK" not in outcome.status:
        return None
    firing = triggers.in_alarm(aws, triggers.watched_names(rollback))
    return ", ".join(firing) or None


def _report_alarm_rollback(aws: Aws, console: Console, name: str, outcome: Any, alarm: str, kind: str) -> None:
    """A deploy its rollback trigger undid: which alarm (and, for a composite, which of its members set it
    off), what the stack is on now, where to look next."""
    back = (
        "the stack is back on its previous template and parameters"
        if kind == "UPDATE"
        else "nothing the create made is left (deploy again with --recreate-failed once the alarm is OK)"
    )
    console.print(
        f"[bold red]{name} ended {outcome.status}[/]: rolled back by its rollback trigger {alarm}, which went to "
        f"ALARM during the deploy or the monitoring after it; {back}.",
        highlight=False,
    )
    if outcome.rollback_reason:
        console.print(f"  CloudFormation: {outcome.rollback_reason}", highlight=False, markup=False)
    first = alarm.split(", ")[0]
    members = triggers.members_in_alarm(aws, first)
    for member, reason in members:
        console.print(f"  set off by {member}: {reason}", highlight=False, markup=False)
    first = members[0][0] if members else first
    console.print(
        f"Why it went off: aws cloudwatch describe-alarm-history --alarm-name {first} --history-item-type "
        f"StateUpdate; what is in ALARM now: python build.py {name.removeprefix(PREFIX + '-')} --status",
        highlight=False,
        markup=False,
    )


def _failed_change_set(cf: Any, change_set: changeset.ChangeSet, kind: str, name: str, opts: Options) -> BuildError:
    """Everything CloudFormation said about a change set it could not make; it (and its empty stack) deleted."""
    lines = [f"  {name}: {change_set.reason or change_set.status}"]
    lines += [f"  {path}: {reason}" for path, reason in change_set.nested_failures]
    lines += [f"  {line}" for line in changeset.validation_failures(cf, change_set.id)]
    try:
        changeset.delete(cf, change_set.id)
        if kind == "CREATE" and change_set.stack_id:
            cf.delete_stack(StackName=change_set.stack_id, **service_role(opts))
        cleaned = "it was deleted" + (", with the empty stack it was made on" if kind == "CREATE" else "")
    except aws_errors() as exc:
        cleaned = f"it could not be deleted ({describe_error(exc)})"
    return BuildError(
        f"change set {change_set.name} for {name} is {change_set.status}; nothing was executed and {cleaned}:\n"
        + "\n".join(lines)
    )


def _delete_nested_empty(cf: Any, change_set: changeset.ChangeSet) -> None:
    """Nested change sets that FAILED only for having no changes stay on their nested stacks; remove them, so
    that no stack collects them up to CloudFormation's limit of change sets per stack."""
    for nested_id in change_set.nested_empty:
        try:
            changeset.delete(cf, nested_id)
        except aws_errors():  # gone already (executing the root may take them): nothing to clean
            pass


def _kind(cf: Any, name: str, opts: Options, console: Console) -> str:
    """CREATE or UPDATE, after dealing with a stack that cannot take a change set as it is."""
    stack = _stack(cf, name)
    if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        return "CREATE"
    status = stack["StackStatus"]
    if status == "ROLLBACK_COMPLETE" and opts.plan_only:
        raise BuildError(
            f"{name} is ROLLBACK_COMPLETE (its first create failed), so no change set can be planned on it, and "
            f"--plan changes nothing, so it will not delete it. Deploy with --recreate-failed to delete it and "
            f"create it again (asking first), or delete it by hand: aws cloudformation delete-stack --stack-name {name}"
        )
    if status == "ROLLBACK_COMPLETE":
        question = (
            f"{name} is ROLLBACK_COMPLETE: its first create failed and was rolled back, so it holds nothing and "
            "cannot be updated. Delete it and create it again?"
        )
        if not (opts.recreate_failed or (opts.interactive and not opts.yes and _ask(question))):
            raise BuildError(
                f"{name} is ROLLBACK_COMPLETE (its first create failed). Delete it and create it again with "
                f"--recreate-failed, or by hand: aws cloudformation delete-stack --stack-name {name}"
            )
        console.print(f"deleting {name} (ROLLBACK_COMPLETE) before creating it again")
        cf.delete_stack(StackName=name, **service_role(opts))
        cf.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 360})
        return "CREATE"
    if status == "UPDATE_ROLLBACK_FAILED":
        raise BuildError(
            f"{name} is UPDATE_ROLLBACK_FAILED: a rollback could not finish. Fix the cause shown in its events, then "
            f"run `aws cloudformation continue-update-rollback --stack-name {name}` (add --resources-to-skip for "
            "resources that cannot roll back), wait for UPDATE_ROLLBACK_COMPLETE, and deploy again"
        )
    if not is_terminal(status):
        raise BuildError(
            f"{name} is {status}: another operation is running. Watch it with --follow and deploy when it ends"
        )
    if status in {"DELETE_FAILED", "ROLLBACK_FAILED"}:
        raise BuildError(f"{name} is {status}; see its events, fix the cause and delete it before deploying again")
    return "UPDATE"


def _reviewed(cf: Any, name: str, opts: Options) -> changeset.ChangeSet | None:
    """The named change set, when it already exists: a later run executes exactly what was reviewed."""
    if not opts.change_set_name or opts.plan_only:
        return None
    try:
        found = changeset.describe(cf, opts.change_set_name, stack_name=name)
    except aws_errors() as exc:
        if error_code(exc) in {"ChangeSetNotFound", "ChangeSetNotFoundException", "ValidationError"}:
            return None
        raise
    return found if found.stack_name == name else None


def _discard(cf: Any, change_set: changeset.ChangeSet, kind: str, opts: Options) -> None:
    """Leave nothing behind for a change set that will not run, unless the user named it to keep it.

    A CREATE change set made an empty stack (REVIEW_IN_PROGRESS) to hang on; it goes too.
    """
    if opts.change_set_name:
        return
    changeset.delete(cf, change_set.id)
    if kind == "CREATE" and change_set.stack_id:
        cf.delete_stack(StackName=change_set.stack_id, **service_role(opts))


def _guard(cf: Any, change_set: changeset.ChangeSet, kind: str, opts: Options, console: Console) -> None:
    risky = guard.dangerous(change_set.changes)
    if not risky:
        return
    lines = "\n".join(f"  {guard.describe_danger(c)}" for c in risky)
    conditional = any(c.replacement == "Conditional" for c in risky)
    explained = f"\n{guard.CONDITIONAL_EXPLAINED}" if conditional else ""
    if opts.allow_replacement:
        console.print(f"[yellow]--allow-replacement: going ahead although[/]\n{lines}{explained}")
        return
    kept = change_set.name if opts.change_set_name else None
    _discard(cf, change_set, kind, opts)
    raise BuildError(
        f"refusing to deploy: this change would replace or remove resources that hold state:\n{lines}{explained}\n"
        "Pass --allow-replacement if that is what you want"
        + (f" (the change set {kept} is kept for review)." if kept else "; the change set was deleted.")
    )


def _end_plan(cf: Any, change_set: changeset.ChangeSet, kind: str, opts: Options, console: Console, env: str) -> int:
    """A plan ends with nothing executed and, unless the change set was named to keep, nothing left behind."""
    if opts.change_set_name:
        console.print(
            f"plan only: change set {change_set.name} kept. Execute exactly it with: "
            f"python build.py {env} --deploy --change-set-name {change_set.name}",
            markup=False,
        )
    else:
        _discard(cf, change_set, kind, opts)
        gone = " and the empty stack it was made on" if kind == "CREATE" else ""
        console.print(
            f"plan only: nothing executed; change set deleted{gone} (name one with --change-set-name to keep it)"
        )
    return 0


def _ask(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}
    except EOFError:
        return False


def confirm(question: str, opts: Options) -> bool:
    if opts.yes:
        return True
    if not opts.interactive:
        return False
    return _ask(question)


def _refusal(change_set: changeset.ChangeSet, opts: Options) -> str:
    why = "not confirmed" if opts.interactive else "no terminal to ask on and no --yes"
    kept = " and is kept" if opts.change_set_name else " and was deleted"
    return f"{why}: change set {change_set.name} was not executed{kept} (pass --yes to execute without asking)"


TAKEN = ("bucket name is not available", "already exists", "AlreadyExists")


def report_failure(console: Console, name: str, outcome: Any, production: bool = False) -> None:
    console.print(f"[bold red]{name} ended {outcome.status}[/]. What failed first:")
    for event in outcome.failures[:5]:
        console.print(
            f"  {event['StackPath']}/{event['LogicalResourceId']} ({event.get('ResourceType', '')}): "
            f"{event.get('ResourceStatusReason', 'no reason given')}",
            highlight=False,
            markup=False,
        )
    for hint in _retained_hints(name, outcome.failures[:5]):
        console.print(hint, highlight=False, markup=False)
    if outcome.status == "ROLLBACK_FAILED":
        env = name.removeprefix(f"{PREFIX}-")
        how = (
            f"(build.py never deletes a production stack; by hand, retaining what cannot be deleted): aws "
            f"cloudformation delete-stack --stack-name {name}"
            if production
            else f"(a delete that fails again says what to retain): python build.py {env} --delete"
        )
        console.print(
            f"{name} could not roll back: what it made could not all be deleted (the failures above). It can only "
            f"be deleted now {how}",
            highlight=False,
            markup=False,
        )


def _retained_hints(name: str, failures: list[dict[str, Any]]) -> list[str]:
    """For a create blocked by a name already taken (a bucket or log group an earlier deploy kept): which one,
    and the commands that remove or adopt it."""
    hints = []
    for event in failures:
        if not any(t in str(event.get("ResourceStatusReason", "")) for t in TAKEN):
            continue
        kind = event.get("ResourceType", "")
        taken = _physical_name(event)
        if kind == "AWS::S3::Bucket":
            hints.append(
                f"hint: the bucket {taken} already exists, most likely kept (DeletionPolicy Retain) by an earlier "
                f"{name} that was deleted. Look at what it holds (`aws s3 ls s3://{taken} --recursive --summarize`); "
                f"copy what must be kept elsewhere (`aws s3 sync s3://{taken} s3://<backup-bucket>`), remove it "
                f"(`aws s3 rb s3://{taken} --force`), then deploy again with --recreate-failed"
            )
        elif kind == "AWS::Logs::LogGroup":
            hints.append(
                f"hint: the log group {taken} already exists (kept by an earlier {name}); delete it "
                f"(`aws logs delete-log-group --log-group-name {taken}`) or import it, then deploy with "
                "--recreate-failed"
            )
    return hints


def _physical_name(event: dict[str, Any]) -> str:
    """The name the failed resource asked for: its physical id, or BucketName / LogGroupName in its properties."""
    try:
        properties = json.loads(event.get("ResourceProperties") or "{}")
    except ValueError:
        properties = {}
    for key in ("BucketName", "LogGroupName"):
        if isinstance(properties, dict) and isinstance(properties.get(key), str):
            return properties[key]
    return event.get("PhysicalResourceId") or f"named in {event.get('LogicalResourceId', 'the resource')}'s properties"


def _protect(cf: Any, name: str, console: Console) -> None:
    """Production: termination protection on the root, a stack policy on it and every nested stack."""
    cf.update_termination_protection(StackName=name, EnableTerminationProtection=True)
    body = policies.stack_policy(sorted(guard.STATEFUL_TYPES)).to_json(indent=None)
    stacks = [name] + [
        r["PhysicalResourceId"]
        for r in cf.describe_stack_resources(StackName=name)["StackResources"]
        if r["ResourceType"] == "AWS::CloudFormation::Stack" and r.get("PhysicalResourceId")
    ]
    for stack in stacks:
        cf.set_stack_policy(StackName=stack, StackPolicyBody=body)
    console.print(f"{name}: termination protection on; stack policy denies Replace and Delete of stateful resources")


def service_role(opts: Options) -> dict[str, str]:
    return {"RoleARN": opts.role_arn} if opts.role_arn else {}


def _stack(cf: Any, name: str) -> dict[str, Any] | None:
    try:
        return cf.describe_stacks(StackName=name)["Stacks"][0]
    except aws_errors() as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in describe_error(exc):
            return None
        raise


def _show_outputs(console: Console, stack: dict[str, Any] | None) -> None:
    outputs = (stack or {}).get("Outputs", [])
    if not outputs:
        return
    table = Table(title=f"{stack['StackName']} outputs", title_justify="left", box=None, pad_edge=False)
    table.add_column("output", overflow="fold")
    table.add_column("value", overflow="fold")  # a narrow terminal wraps a value; it never cuts one with "…"
    for output in sorted(outputs, key=lambda o: o["OutputKey"]):
        table.add_row(Text(output["OutputKey"]), Text(output["OutputValue"]))  # Text: "[...]" is not markup
    console.print(table)


# --- status, delete, follow ------------------------------------------------------------------


def deployed_stack(cfg: EnvConfig, opts: Options) -> tuple[Aws, Any, str, dict[str, Any] | None]:
    """The environment's account (checked), its CloudFormation client, its stack's name, and the stack."""
    aws = Aws(opts.target)
    cf = aws.client("cloudformation")
    name = stack_name(cfg.environment)
    return aws, cf, name, _stack(cf, name)


@aws_guarded
def status(cfg: EnvConfig, opts: Options, console: Console) -> int:
    aws, cf, name, stack = deployed_stack(cfg, opts)
    if stack is None:
        console.print(f"{name}: not deployed in {opts.target.region}")
        return 0
    protection = "on" if stack.get("EnableTerminationProtection") else "off"
    console.print(f"{name}: {stack['StackStatus']} (termination protection {protection})")
    for r in cf.describe_stack_resources(StackName=name)["StackResources"]:
        if r["ResourceType"] == "AWS::CloudFormation::Stack":
            console.print(f"  {r['LogicalResourceId']}: {r['ResourceStatus']}", highlight=False)
    _show_outputs(console, stack)
    _show_alarms(console, triggers.firing(aws, cfg.environment), cfg.environment)
    return 0


def _show_alarms(console: Console, alarms: list[dict[str, Any]], env: str) -> None:
    """The environment's alarms in ALARM: name, since when, CloudWatch's reason; or a line saying there are none."""
    if not alarms:
        console.print(f"{PREFIX}-{env}: no alarms in ALARM", highlight=False)
        return
    table = Table(title=f"{PREFIX}-{env} alarms in ALARM", title_justify="left", box=None, pad_edge=False)
    for column in ("alarm", "since (UTC)", "reason"):
        table.add_column(column, overflow="fold")
    for alarm in alarms:
        since = alarm.get("StateUpdatedTimestamp")
        when = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if isinstance(since, datetime) else str(since or "")
        table.add_row(Text(alarm["AlarmName"]), Text(when), Text(alarm.get("StateReason", "")))
    console.print(table)


@aws_guarded
def resume(cfg: EnvConfig, opts: Options, console: Console) -> int:
    """Follow whatever the environment's stack is doing now."""
    aws, cf, name, stack = deployed_stack(cfg, opts)
    if stack is None:
        raise BuildError(f"{name} is not deployed in {opts.target.region}")
    if stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        console.print(
            f"{name} is REVIEW_IN_PROGRESS: a change set was made for its first create but not executed, so "
            f"nothing is running to follow. Deploy it with `python build.py {cfg.environment} --deploy` "
            f"(add --change-set-name NAME to execute a kept one)",
            markup=False,
        )
        return 0
    rollback = stack.get("RollbackConfiguration") or {}
    watching = triggers.watched_names(rollback) if stack["StackStatus"].endswith("_IN_PROGRESS") else []
    minutes = rollback.get("MonitoringTimeInMinutes", 0)
    if watching:
        console.print(f"this operation is watched by {', '.join(watching)} (for {minutes} minutes after its last "
                      "resource): an alarm in ALARM rolls it back", highlight=False, markup=False)  # fmt: skip
    since = datetime.now(UTC) - timedelta(minutes=2)
    outcome = follow(cf, stack["StackId"], since=since, total=0, console=console, interactive=opts.interactive)
    console.print(f"{name}: {outcome.status}")
    ok = outcome.status.endswith("_COMPLETE") and "ROLLBACK" not in outcome.status
    alarm = _rolled_back_by(aws, outcome, rollback) if watching and not ok else None
    if alarm:
        kind = "UPDATE" if outcome.status.startswith("UPDATE") else "CREATE"
        _report_alarm_rollback(aws, console, name, outcome, alarm, kind)
    return 0 if ok else 1
