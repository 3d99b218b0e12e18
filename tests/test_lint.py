"""cfn-lint: every committed template is clean, and the build refuses to write one that is not."""

from __future__ import annotations

from pathlib import Path

import pytest
from troposphere import Template, ec2

from builders import cli, root
from builders.build import limits, lintcache
from builders.build import lint as lint_module
from builders.build.lint import lint
from builders.build.pipeline import SHARED_FILES
from tests.conftest import ENVS, PARAMS, STACKS, TEMPLATES, CleanLintPool, tree_digest

TEMPLATE_FILES = sorted(TEMPLATES.rglob("*.yaml"))


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=[str(p.relative_to(TEMPLATES)) for p in TEMPLATE_FILES])
def test_committed_template_is_lint_clean(path: Path) -> None:
    assert lint(path.read_text(), str(path), "us-east-1") == []


def test_every_stack_of_every_environment_is_linted() -> None:
    account_wide = {p.name for p in TEMPLATE_FILES if p.parent == TEMPLATES}
    assert account_wide == set(SHARED_FILES)
    assert len(TEMPLATE_FILES) == len(account_wide) + len(ENVS) * len(STACKS)


def test_lint_reports_a_real_problem() -> None:
    # Proves the wrapper is not vacuous: a VPC with an impossible CIDR is an error.
    text = "Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.0.0.0/99\n"
    findings = lint(text, "x.yaml", "us-east-1")
    assert findings and findings[0].rule.startswith("E") and findings[0].line == 5


def test_relative_template_url_is_allowed_by_the_repository_cfnlintrc() -> None:
    text = (
        "Resources:\n  Child:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: child.yaml\n"
    )
    assert lint(text, "root.yaml", "us-east-1") == []


def _broken_layer(cfg: object) -> Template:
    t = Template()
    t.add_resource(ec2.VPC("Vpc", CidrBlock="10.0.0.0/99"))
    return t


def test_a_template_that_fails_lint_is_not_written_nor_is_any_other(tmp_path: Path, monkeypatch, capsys) -> None:
    # Fault injection: one more layer whose template cfn-lint rejects.
    monkeypatch.setattr(root, "LAYERS", (*root.LAYERS, root.Layer("extra", _broken_layer)))
    out = tmp_path / "templates"
    code = cli.run(["dev", "prod"], check=False, params_dir=PARAMS, out_dir=out, quiet=False, started=0.0)
    assert code == 1
    assert "E" in capsys.readouterr().err and not out.exists()


def _many_vpcs(count: int, tags: int = 0) -> Template:
    t = Template()
    for i in range(count):
        t.add_resource(
            ec2.VPC(
                f"Vpc{i}", CidrBlock="10.0.0.0/16", Tags=[{"Key": f"k{j}", "Value": "v" * 250} for j in range(tags)]
            )
        )
    return t


def test_more_resources_than_cloudformation_allows_is_a_clean_build_error(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(
        root, "LAYERS", (*root.LAYERS, root.Layer("extra", lambda cfg: _many_vpcs(limits.MAX_RESOURCES + 1)))
    )
    out = tmp_path / "templates"
    code = cli.run(["dev"], check=False, params_dir=PARAMS, out_dir=out, quiet=False, started=0.0)
    assert code == 1
    err = capsys.readouterr().err
    assert "dev/extra.yaml" in err and "500" in err and "Traceback" not in err
    assert not out.exists()


def test_a_template_over_the_size_limit_is_refused(monkeypatch, capsys, committed_copy: Path) -> None:
    monkeypatch.setattr(root, "LAYERS", (*root.LAYERS, root.Layer("extra", lambda cfg: _many_vpcs(100, tags=45))))
    # Lint is not the subject here, and a 1 MB template takes cfn-lint long to read: every verdict is clean, and
    # none is cached.
    monkeypatch.setattr(lint_module, "LintPool", CleanLintPool)
    monkeypatch.setenv(lintcache.ENV_VAR, lintcache.OFF)
    before = tree_digest(committed_copy)
    code = cli.run(["dev"], check=False, params_dir=PARAMS, out_dir=committed_copy, quiet=False, started=0.0)
    assert code == 1
    err = capsys.readouterr().err
    assert "dev/extra.yaml" in err and "bytes, over CloudFormation's limit of 1,000,000" in err
    assert tree_digest(committed_copy) == before


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=[str(p.relative_to(TEMPLATES)) for p in TEMPLATE_FILES])
def test_committed_template_is_within_cloudformation_limits(path: Path) -> None:
    from cfnlint.decode.decode import decode_str

    text = path.read_text()
    doc, _ = decode_str(text)
    use = limits.usage(str(path), doc, text)
    assert use.violations() == []
    assert use.resources > 0
