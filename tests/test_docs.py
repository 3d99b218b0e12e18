"""README.md's generated sections and docs/<env>.svg: committed = fresh, and drawn from the templates.

Expectations are read from the template dicts (and the params files) here,
independently of builders/docs/readme.py and builders/docs/diagram.py, so a table or a
diagram that says something the templates do not fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import params
from builders.build import pipeline, transaction
from builders.build.pipeline import Artifact
from builders.config import EnvConfig
from builders.docs import diagram, generated, paths
from builders.docs import output as docs_output
from builders.docs import readme as docs
from builders.errors import BuildError
from tests.conftest import ENVS, PARAMS, REPO, TEMPLATES, props, ref, resources, run_build, template, tree_digest

SVG = "{http://www.w3.org/2000/svg}"
NO_EGRESS_CIDR = "255.255.255.255/32"


def _build_inputs(params_dir: Path) -> tuple[dict[str, EnvConfig], list[Artifact]]:
    configs = {env: params.load(params_dir / f"{env}.yaml") for env in params.environments(params_dir)}
    artifacts = [a for cfg in configs.values() for a in pipeline.render(cfg)]
    regions = sorted({a.region for a in artifacts})
    return configs, pipeline.render_shared(regions[0]) + artifacts


@cache
def _committed_inputs() -> tuple[dict[str, EnvConfig], tuple[Artifact, ...]]:
    configs, artifacts = _build_inputs(PARAMS)
    return configs, tuple(artifacts)


def _sources(params_dir: Path | None = None) -> docs.Sources:
    configs, artifacts = _build_inputs(params_dir) if params_dir else _committed_inputs()
    return docs.Sources(configs, tuple(artifacts))


def _readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def _section(readme: str, name: str) -> str:
    start, end = docs.marker(name)
    return readme.split(start, 1)[1].split(end, 1)[0]


def _table(markdown: str) -> list[list[str]]:
    """A Markdown table's rows (header first, separator left out) as lists of cells."""
    rows = [line for line in markdown.strip().splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]
    return [cells[0], *cells[2:]]


# --- committed docs are current -------------------------------------------------------------------------------


def test_committed_readme_sections_and_diagrams_equal_a_fresh_generation() -> None:
    configs, artifacts = _committed_inputs()
    fresh = generated.texts(configs, artifacts, _readme())
    assert set(fresh) == {"README.md", *(f"docs/{env}.svg" for env in ENVS)}
    for relpath, text in fresh.items():
        committed = (REPO / relpath).read_text(encoding="utf-8")
        assert committed == text, f"{relpath} is stale: run `python build.py` and commit"


def test_every_registered_section_has_its_markers_in_the_readme() -> None:
    readme = _readme()
    for name in docs.SECTIONS:
        start, end = docs.marker(name)
        assert readme.count(start) == 1 and readme.count(end) == 1, name
        assert _section(readme, name).strip(), f"the {name} section is empty"


def test_generation_is_deterministic() -> None:
    configs, artifacts = _committed_inputs()
    assert generated.texts(configs, artifacts, _readme()) == generated.texts(configs, artifacts, _readme())


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """README.md, docs/ and templates/ side by side in a private folder, as in the repository."""
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    return tmp_path


def test_check_reports_stale_docs_and_writes_nothing(repo_copy: Path) -> None:
    fresh = run_build("--check", "--out", repo_copy / "templates")
    assert fresh.returncode == 0, fresh.stderr
    assert f"{len(ENVS) + 1} generated docs" in fresh.stdout

    readme = repo_copy / "README.md"
    table = _section(readme.read_text(), "environments")
    readme.write_text(readme.read_text().replace(table, table.replace("10.0.0.0/16", "10.9.0.0/16")))
    prod_svg = repo_copy / "docs" / "prod.svg"
    prod_svg.write_text(prod_svg.read_text().replace("NAT gateway", "NAT box", 1))  # a hand edit of the drawing
    (repo_copy / "docs" / "dev.svg").unlink()
    shutil.copy(repo_copy / "docs" / "staging.svg", repo_copy / "docs" / "qa.svg")  # an environment that is gone
    before = tree_digest(repo_copy)

    result = run_build("--check", "--out", repo_copy / "templates")

    assert result.returncode == 1
    for line in (
        "README.md: differs from a fresh build",
        "docs/prod.svg: differs from a fresh build",
        "docs/dev.svg: missing",
        "docs/qa.svg: no longer built",
    ):
        assert line in result.stderr, result.stderr
    assert "staging.svg" not in result.stderr and "templates" not in result.stderr
    assert tree_digest(repo_copy) == before


def test_writing_restores_exactly_the_stale_docs(repo_copy: Path) -> None:
    readme = repo_copy / "README.md"
    readme.write_text(readme.read_text().replace("| 10.0.0.0/16 |", "| 10.9.0.0/16 |", 1))
    (repo_copy / "docs" / "dev.svg").unlink()
    untouched = repo_copy / "docs" / "prod.svg"
    mtime = untouched.stat().st_mtime_ns
    configs, artifacts = _committed_inputs()
    files = generated.files(configs, artifacts, readme.read_text())

    touched = transaction.apply(docs_output.doc_changes(repo_copy, files))

    assert sorted(Path(t).name for t in touched) == ["README.md", "dev.svg"]
    assert readme.read_text() == _readme()
    assert (repo_copy / "docs" / "dev.svg").read_text() == (REPO / "docs" / "dev.svg").read_text()
    assert untouched.stat().st_mtime_ns == mtime, "a current diagram was rewritten"
    assert docs_output.stale_docs(repo_copy, files) == []


def test_a_build_of_some_environments_leaves_the_docs_alone(repo_copy: Path) -> None:
    readme = repo_copy / "README.md"
    readme.write_text(readme.read_text().replace("| 10.2.0.0/16 |", "| stale |", 1))
    (repo_copy / "docs" / "dev.svg").unlink()
    before = {p: tree_digest(repo_copy)[p] for p in ("README.md", "docs/prod.svg", "docs/staging.svg")}

    assert run_build("dev", "--check", "--out", repo_copy / "templates").returncode == 0
    result = run_build("dev", "--out", repo_copy / "templates")

    assert result.returncode == 0, result.stderr
    assert "nothing changed" in result.stdout
    assert {p: tree_digest(repo_copy)[p] for p in before} == before
    assert not (repo_copy / "docs" / "dev.svg").exists()


def test_a_readme_without_its_markers_is_an_error_and_nothing_is_written(repo_copy: Path) -> None:
    readme = repo_copy / "README.md"
    readme.write_text(readme.read_text().replace(docs.marker("outputs")[1], ""))
    before = tree_digest(repo_copy)

    result = run_build("--check", "--out", repo_copy / "templates")

    assert result.returncode == 1
    assert "README.md" in result.stderr and "<!-- /generated:outputs -->" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree_digest(repo_copy) == before


# --- the splice and the registry ------------------------------------------------------------------------------


def test_splice_replaces_only_the_text_between_markers() -> None:
    text = "intro\n<!-- generated:x -->\nold\n<!-- /generated:x -->\nhand-written\n"
    assert (
        docs.splice(text, {"x": "| a |"})
        == "intro\n<!-- generated:x -->\n\n| a |\n\n<!-- /generated:x -->\nhand-written\n"
    )
    assert docs.splice(docs.splice(text, {"x": "new"}), {"x": "new"}) == docs.splice(text, {"x": "new"})
    for broken in ("no markers", "<!-- /generated:x --> <!-- generated:x -->", text + text):
        with pytest.raises(BuildError, match="generated:x"):
            docs.splice(broken, {"x": "new"})


def test_a_new_section_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(docs.SECTIONS, "extra", lambda sources: f"{len(sources.envs)} environments")
    start, end = docs.marker("extra")
    readme = _readme() + f"\n{start}\n{end}\n"
    configs, artifacts = _committed_inputs()
    (page,) = [f for f in generated.files(configs, artifacts, readme) if f.relpath == "README.md"]
    assert f"{start}\n\n{len(ENVS)} environments\n\n{end}" in page.render()


# --- the environment table ------------------------------------------------------------------------------------


def _env_table(params_dir: Path | None = None) -> dict[str, dict[str, str]]:
    """feature -> env -> cell."""
    header, *rows = _table(docs.environments(_sources(params_dir)))
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in rows}


def test_environment_table_has_a_column_per_params_file_in_promotion_order() -> None:
    header = _table(_section(_readme(), "environments"))[0]
    assert header[0] == "Feature"
    assert sorted(header[1:]) == ENVS
    assert header[1:4] == ["dev", "staging", "prod"]


def test_a_new_params_file_adds_a_column(tmp_path: Path) -> None:
    shutil.copytree(PARAMS, tmp_path / "params")
    doc = yaml.safe_load((PARAMS / "staging.yaml").read_text())
    doc["environment"] = "qa"
    (tmp_path / "params" / "qa.yaml").write_text(yaml.safe_dump(doc))
    header = _table(docs.environments(_sources(tmp_path / "params")))[0]
    assert header == ["Feature", "dev", "staging", "prod", "qa"]


def _expected_nat_cell(env: str) -> str:
    return str(len(resources(template(env, "network"), "AWS::EC2::NatGateway")))


def test_environment_table_values_come_from_the_templates() -> None:
    table = _env_table()
    for env in ENVS:
        network, database = template(env, "network"), template(env, "database")
        (vpc,) = resources(network, "AWS::EC2::VPC").values()
        assert table["VPC CIDR"][env] == props(vpc)["CidrBlock"]
        assert table["NAT gateways"][env].startswith(_expected_nat_cell(env) + " ")
        azs = {props(s)["AvailabilityZone"]["Fn::Select"][0] for s in resources(network, "AWS::EC2::Subnet").values()}
        assert table["Availability Zones"][env].startswith(f"{len(azs)} ")
        (cluster,) = resources(database, "AWS::RDS::DBCluster").values()
        scaling = props(cluster)["ServerlessV2ScalingConfiguration"]
        assert table["Capacity (ACU, min–max)"][env] == f"{scaling['MinCapacity']:g}–{scaling['MaxCapacity']:g}"
        for tier in ("public", "private", "database"):
            cidrs = [
                props(s)["CidrBlock"]
                for k, s in resources(network, "AWS::EC2::Subnet").items()
                if k.startswith(tier.capitalize())
            ]
            assert table[next(f for f in table if f.lower().startswith(tier))][env] == ", ".join(cidrs)


# Cells that follow another one on purpose: the alarms are made per NAT gateway.
FOLLOWS = {"network.nat_gateways": ("Alarms",)}


@pytest.mark.parametrize(
    ("key", "value", "feature", "before", "after"),
    [
        ("database.max_capacity", 32, "Capacity (ACU, min–max)", "0.5–16", "0.5–32"),
        ("network.nat_gateways", "single", "NAT gateways", "3 (one per AZ)", "1 (in AZ a, shared)"),
        ("compute.fargate_spot", True, "Fargate Spot", "no (on-demand only)", "beyond the first task of a service"),
        ("compute.api.max_count", 8, "NL-to-SQL API (8000): tasks at deploy; autoscaling", "2–6", "2–8"),
    ],
)
def test_a_params_change_changes_its_cell_and_only_that_one(
    tmp_path: Path, key: str, value: Any, feature: str, before: str, after: str
) -> None:
    shutil.copytree(PARAMS, tmp_path / "params")
    prod = tmp_path / "params" / "prod.yaml"
    doc = yaml.safe_load(prod.read_text())
    *parents, last = key.split(".")
    node = doc
    for part in parents:
        node = node[part]
    node[last] = value
    prod.write_text(yaml.safe_dump(doc))

    old, new = _env_table(), _env_table(tmp_path / "params")

    assert before in old[feature]["prod"] and after in new[feature]["prod"]
    changed = {(f, env) for f in old for env in old[f] if old[f][env] != new[f][env]}
    assert changed == {(feature, "prod")} | {(f, "prod") for f in FOLLOWS.get(key, ())}
    if key == "network.nat_gateways":  # one NAT gateway, one of each NAT alarm
        assert "port-allocation-errors ×3" in old["Alarms"]["prod"]
        assert "port-allocation-errors," in new["Alarms"]["prod"]


# --- the security-group table ---------------------------------------------------------------------------------


def _label(network: dict[str, Any], group_id: str) -> str:
    return props(network["Resources"][group_id])["GroupDescription"].split(":")[0]


def _template_rules(network: dict[str, Any]) -> set[tuple[str, str, int, str]]:
    """(group, in|out, port, peer) for every rule EC2 would have, read straight from the template."""
    rules = set()

    def peer(rule: dict[str, Any]) -> str:
        for key in ("SourceSecurityGroupId", "DestinationSecurityGroupId"):
            if key in rule:
                return _label(network, ref(rule[key]) or "")
        return "the VPC CIDR" if ref(rule["CidrIp"]) == "Vpc" else rule["CidrIp"]

    for gid, group in resources(network, "AWS::EC2::SecurityGroup").items():
        for direction, key in (("in", "SecurityGroupIngress"), ("out", "SecurityGroupEgress")):
            for rule in props(group).get(key, []):
                if rule.get("CidrIp") != NO_EGRESS_CIDR:
                    rules.add((_label(network, gid), direction, rule["FromPort"], peer(rule)))
    for direction, kind in (("in", "AWS::EC2::SecurityGroupIngress"), ("out", "AWS::EC2::SecurityGroupEgress")):
        for rule in resources(network, kind).values():
            p = props(rule)
            rules.add((_label(network, ref(p["GroupId"]) or ""), direction, p["FromPort"], peer(p)))
    return rules


def _table_rules(markdown: str, env: str) -> set[tuple[str, str, int, str]]:
    """The same tuples, parsed from the README's table rows that hold in `env`."""
    rules = set()
    for group, purpose, inbound, outbound in _table(markdown)[1:]:
        only = re.search(r"\(([\w, -]+) only\)$", purpose)
        if only and env not in only.group(1).split(", "):
            continue
        for direction, cell in (("in", inbound), ("out", outbound)):
            for text in cell.split("<br>"):
                if text == "none":
                    continue
                match = re.match(r"(\d+)/tcp (?:from|to) (.+?)(?: — .*)?$", text)
                assert match, text
                rules.add((group.strip("`"), direction, int(match.group(1)), match.group(2)))
    return rules


@pytest.mark.parametrize("env", ENVS)
def test_security_group_table_lists_exactly_the_template_s_rules(env: str) -> None:
    markdown = _section(_readme(), "security-groups")
    assert _table_rules(markdown, env) == _template_rules(template(env, "network"))


def test_security_group_table_spot_checks() -> None:
    rows = {r[0].strip("`"): r for r in _table(_section(_readme(), "security-groups"))[1:]}
    assert set(rows) == {"alb-sg", "ecs-tasks-sg", "aurora-sg", "vpc-endpoints-sg"}
    alb_in = rows["alb-sg"][2].split("<br>")
    assert [x.split(" — ")[0] for x in alb_in] == ["80/tcp from 0.0.0.0/0", "443/tcp from 0.0.0.0/0"]
    assert rows["aurora-sg"][3] == "none" and rows["vpc-endpoints-sg"][3] == "none"
    assert "(staging, prod only)" in rows["vpc-endpoints-sg"][1]


# --- the outputs table ----------------------------------------------------------------------------------------


def test_outputs_table_lists_every_stack_s_outputs() -> None:
    rows = _table(_section(_readme(), "outputs"))[1:]
    listed = {(stack.strip("`"), name.strip("`")): (why, where) for stack, name, why, where in rows}
    for env in ENVS:
        for path in sorted((TEMPLATES / env).glob("*.yaml")):
            for name, out in template(env, path.stem).get("Outputs", {}).items():
                why, where = listed[(path.stem, name)]
                assert why == out["Description"]
                assert where == "all" or env in where.split(", "), (env, path.stem, name)
    for path in sorted(TEMPLATES.glob("*.yaml")):
        shared = yaml.load(path.read_text(), Loader=_IgnoreTags)
        for name, out in shared.get("Outputs", {}).items():
            assert listed[(path.stem, name)] == (out["Description"], "account-wide")


class _IgnoreTags(yaml.SafeLoader):
    """Reads short-form intrinsics (!Ref, !GetAtt...) as plain values: only Outputs' descriptions matter here."""


_IgnoreTags.add_multi_constructor("!", lambda loader, suffix, node: None)


# --- the diagrams ---------------------------------------------------------------------------------------------


def _svg(env: str) -> ET.Element:
    return ET.fromstring((REPO / paths.svg_path(env)).read_text(encoding="utf-8").split("\n", 1)[1])


def _groups(svg: ET.Element, kind: str) -> dict[str, ET.Element]:
    """title -> <g> of each node (or edge) of a Graphviz SVG."""
    found = {}
    for g in svg.iter(f"{SVG}g"):
        if g.get("class") == kind:
            title = g.find(f"{SVG}title")
            assert title is not None and title.text
            found[title.text] = g
    return found


def _edge_label(edge: ET.Element) -> str:
    return " ".join(t.text or "" for t in edge.iter(f"{SVG}text"))


def test_prod_diagram_has_a_node_per_subnet_per_az() -> None:
    network = template("prod", "network")
    subnets = resources(network, "AWS::EC2::Subnet")
    azs = {props(s)["AvailabilityZone"]["Fn::Select"][0] for s in subnets.values()}
    assert len(subnets) == len(azs) * 3 == 9
    nodes = _groups(_svg("prod"), "node")
    for logical_id, subnet in subnets.items():
        assert logical_id in nodes, logical_id
        assert props(subnet)["CidrBlock"] in _edge_label(nodes[logical_id])


@pytest.mark.parametrize("env", ENVS)
def test_diagram_shows_nat_gateways_alb_services_aurora_and_bucket(env: str) -> None:
    nodes = _groups(_svg(env), "node")
    for stack, type_ in (
        ("network", "AWS::EC2::NatGateway"),
        ("compute", "AWS::ECS::Service"),
        ("compute", "AWS::ElasticLoadBalancingV2::LoadBalancer"),
        ("database", "AWS::RDS::DBInstance"),
    ):
        assert set(resources(template(env, stack), type_)) <= set(nodes), (stack, type_)
    assert "DataLakeBucket" in nodes
    has_endpoints = bool(resources(template(env, "network"), "AWS::EC2::VPCEndpoint"))
    assert ("InterfaceEndpoints" in nodes) == has_endpoints


@pytest.mark.parametrize("env", ENVS)
def test_diagram_flows_carry_the_template_s_ports(env: str) -> None:
    edges = {title: _edge_label(g) for title, g in _groups(_svg(env), "edge").items()}
    compute, database = template(env, "compute"), template(env, "database")
    for service_id, service in resources(compute, "AWS::ECS::Service").items():
        (lb,) = props(service)["LoadBalancers"]
        port = props(compute["Resources"][ref(lb["TargetGroupArn"]) or ""])["Port"]
        assert edges[f"LoadBalancer->{service_id}"] == str(port)
    (cluster,) = resources(database, "AWS::RDS::DBCluster").values()
    assert edges["ApiService->DatabaseWriter"] == str(props(cluster)["Port"])
    assert edges["ApiService->DataLakeBucket"].startswith("443")
    labels = " ".join(edges.values())
    assert {"8000", "8501", "5432"} <= set(labels.split())


def test_svgs_carry_a_stamp_that_matches_their_dot_source() -> None:
    sources = _sources()
    for env in ENVS:
        svg = (REPO / paths.svg_path(env)).read_text(encoding="utf-8")
        dot = diagram.dot_source(sources.stacks[env])
        assert diagram.is_current(svg, dot)
        assert not diagram.is_current(svg.replace("Aurora", "Aurora!", 1), dot), "a hand edit must count as stale"
        assert not diagram.is_current(svg, dot + "\n"), "a changed DOT source must count as stale"


def test_help_and_the_build_module_do_not_import_graphviz() -> None:
    code = (
        "import sys, runpy\n"
        "sys.argv = ['build.py', '--help']\n"
        "try:\n    runpy.run_path('build.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "import builders.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'graphviz' or m == 'builders.docs.diagram'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
