"""`build.py ENV --role NAME`: the ARN of an environment's GitHub Actions role, from its params alone.

The workflows assume the role of the environment's own account, and no account id may be written outside
params/ (README "GitHub Actions"): so a step asks this command, whose lines go straight into
$GITHUB_OUTPUT, and the role's name comes from the one helper the template uses (builders/github.py
role_name), so the two cannot drift apart. Nothing is asked of AWS.
"""

from __future__ import annotations

from pathlib import Path

from builders.config import EnvConfig

# --role NAME -> the label of that role in templates/github-oidc.yaml.
ROLES = {"plan": "github-plan", "deploy": "github-deploy", "cfn-exec": "cfn-exec"}


def arn(cfg: EnvConfig, role: str) -> str:
    """The role's ARN in the environment's account and region (the GitHub stack is one per region)."""
    from builders import github
    from builders.regions import PARTITION

    return f"arn:{PARTITION}:iam::{cfg.account_id}:role/{github.role_name(ROLES[role], cfg.region)}"


def output_lines(cfg: EnvConfig, roles: list[str]) -> list[str]:
    """`<role>_role_arn=ARN` per role asked for, then `region=REGION`: the key=value lines $GITHUB_OUTPUT reads."""
    lines = [f"{role.replace('-', '_')}_role_arn={arn(cfg, role)}" for role in dict.fromkeys(roles)]
    return [*lines, f"region={cfg.region}"]


def show(params_dir: Path, env: str, roles: list[str]) -> int:
    """Print the lines; a params problem is one paragraph on stderr and exit 2, like a build's."""
    import sys

    from builders import params
    from builders.errors import BuildError

    try:
        cfg = params.load(params.params_path(params_dir, env))
    except BuildError as exc:  # a ConfigError (exit 2) or an unreadable file
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print("\n".join(output_lines(cfg, roles)))
    return 0
