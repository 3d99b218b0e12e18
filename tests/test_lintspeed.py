"""cfn-lint patched by builders.build.lintspeed finds exactly what an unpatched cfn-lint finds.

The unpatched verdicts come from a process of its own that never imports
lintspeed (in this one, the patches are in place as soon as anything lints).
Clean templates prove little, so most texts here are committed templates
broken on purpose in many places (refs to nothing, wrong types, unknown
properties, bad Sub variables), which sends cfn-lint down the paths the
patches touch: validators extended by schema rules, contexts evolved for
refs, conditions and Fn::Sub.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from builders.build import lint, lintcache, lintspeed
from tests.conftest import REPO, TEMPLATES

UNPATCHED = """
import json, sys
from cfnlint.config import ConfigMixIn
from cfnlint.decode.decode import decode_str
from cfnlint.runner import Runner

config_file, jobs = json.load(sys.stdin)
verdicts = []
for text, region in jobs:
    template, matches = decode_str(text)
    if not matches:
        runner = Runner(ConfigMixIn(["--config-file", config_file], regions=[region]))
        matches = list(runner.validate_template(template))
    verdicts.append([[m.linenumber, m.rule.id, m.message] for m in matches])
assert "builders.build.lintspeed" not in sys.modules
json.dump(verdicts, sys.stdout)
"""


def _broken(text: str) -> str:
    """The template with every fifth Ref to nothing, numbers as words, an unknown property, a Sub of nothing."""
    count = iter(range(10**6))
    text = re.sub(r"!Ref (\w+)", lambda m: "!Ref Nowhere" if next(count) % 5 == 0 else m.group(0), text)
    text = re.sub(r"(Threshold|Port|Period|RetentionInDays|MinCapacity): \d+", r"\1: many", text)
    text = re.sub(r"(\n    Properties:\n)", r"\1      BogusProperty: 1\n", text, count=3)
    return re.sub(r"\$\{AWS::Region\}", "${NoSuchThing}", text, count=4)


def _unpatched(jobs: list[tuple[str, str]]) -> list[list[lint.Problem]]:
    result = subprocess.run(
        [sys.executable, "-c", UNPATCHED],
        input=json.dumps([str(lint.CONFIG_FILE), jobs]),
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return [[(line, rule, message) for line, rule, message in v] for v in json.loads(result.stdout)]


SMALL = [
    "Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.0.0.0/99\n",
    "Conditions:\n  IsProd: !Equals [!Ref Env, prod]\nParameters:\n  Env:\n    Type: String\n"
    "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Condition: IsProd\n    Properties:\n"
    "      TopicName: !If [IsProd, !Sub '${Env}-${Missing}', !Ref AWS::NoValue]\n      Bogus: 1\n"
    "Outputs:\n  Arn:\n    Value: !GetAtt Topic.Nope\n",
    # Values cfn-lint resolves (pseudo parameters, a Sub of several, a Select of a Ref) and then finds wrong.
    "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n"
    "      BucketName: !Sub '${AWS::Region}-${AWS::AccountId}-${AWS::StackName}_NOT_VALID'\n"
    "  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      DelaySeconds: !Select [0, [!Ref AWS::Region]]\n",
]


@pytest.mark.parametrize("stack", ["monitoring", "compute", "database", "network"])
def test_patched_cfn_lint_finds_what_unpatched_cfn_lint_finds(stack: str) -> None:
    committed = (TEMPLATES / "prod" / f"{stack}.yaml").read_text()
    jobs = [(committed, "us-east-1"), (_broken(committed), "us-east-1"), *((text, "us-east-1") for text in SMALL)]
    patched = [lint.problems(text, region) for text, region in jobs]
    assert lintspeed.apply(), "cfn-lint is the version the patches were written for (setup.cfg pins it)"
    loaded = lint._rules_runner().rules.data["E1101"]
    assert type(loaded).cfnLint is lintspeed._indexed_cfn_lint, "the loaded E1101 rule runs the indexed cfnLint"
    assert patched == _unpatched(jobs)
    assert len(patched[1]) >= 5 and all(patched[2:]), "the broken texts must have findings to compare"


def test_the_patches_apply_only_to_the_cfn_lint_they_were_written_for(monkeypatch: pytest.MonkeyPatch) -> None:
    import cfnlint.jsonschema.validators as validators
    import cfnlint.version

    monkeypatch.setattr(lintspeed, "_applied", False)
    monkeypatch.setattr(cfnlint.version, "__version__", "9.9.9")
    create = validators.create
    assert lintspeed.apply() is False
    assert validators.create is create


def test_the_lint_cache_key_changes_with_the_patches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {lintcache.ENV_VAR: str(tmp_path)}
    base = lintcache.open_cache(environ=environ).key("Resources: {}\n", "us-east-1")
    changed = tmp_path / "lintspeed.py"
    changed.write_text(Path(lintspeed.__file__).read_text() + "\n# changed\n")
    monkeypatch.setattr(lintspeed, "__file__", str(changed))
    assert lintcache.open_cache(environ=environ).key("Resources: {}\n", "us-east-1") != base
