"""The cost estimate: counts read off the rendered templates, prices from the one price file, the seed's figures."""

from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from builders import params
from builders.build import pipeline
from builders.build.pipeline import Artifact
from builders.config import EnvConfig
from builders.docs import cost
from builders.errors import BuildError
from tests.conftest import PARAMS, REPO, run_build

PRICES = cost.load_prices()
P, A = PRICES.prices, PRICES.assumptions
HOURS = A.hours_per_month


@cache
def config(env: str) -> EnvConfig:
    return params.load(PARAMS / f"{env}.yaml")


def with_network(cfg: EnvConfig, **changes: object) -> EnvConfig:
    return cfg.model_copy(update={"network": cfg.network.model_copy(update=changes)})


def estimate_of(cfg: EnvConfig) -> cost.Estimate:
    [est] = cost.estimate(pipeline.render(cfg), PRICES)
    return est


def line(est: cost.Estimate, key: str) -> cost.LineItem:
    item = est.item(key)
    assert item is not None, f"{est.env} has no {key!r} line: {[i.key for i in est.items]}"
    return item


# --- counts come from the templates ---------------------------------------------------------


def test_nat_line_changes_by_whole_gateways() -> None:
    prod = config("prod")
    per_az = line(estimate_of(prod), "nat-hours").monthly_min
    single = line(estimate_of(with_network(prod, nat_gateways="single")), "nat-hours").monthly_min
    two_azs = line(estimate_of(with_network(prod, nat_gateways="per_az", az_count=2)), "nat-hours").monthly_min
    gateway = P.nat_gateway.hour * HOURS
    assert per_az - single == pytest.approx(2 * gateway)
    assert per_az - two_azs == pytest.approx(gateway)
    assert estimate_of(with_network(prod, nat_gateways="none")).item("nat-hours") is None


def test_endpoint_line_is_one_eni_per_endpoint_per_az() -> None:
    prod = config("prod")
    fewer = with_network(
        prod, vpc_endpoints=prod.network.vpc_endpoints.model_copy(update={"interface_services": ("logs",)})
    )
    eni = P.interface_endpoint.az_hour * HOURS
    assert line(estimate_of(prod), "endpoints").monthly_min == pytest.approx(4 * 3 * eni)
    assert line(estimate_of(fewer), "endpoints").monthly_min == pytest.approx(1 * 3 * eni)
    assert line(estimate_of(with_network(prod, az_count=2)), "endpoints").monthly_min == pytest.approx(4 * 2 * eni)
    assert estimate_of(config("dev")).item("endpoints") is None  # dev has none


def test_counts_are_read_from_the_template_not_the_config() -> None:
    """Take a NAT gateway and its Elastic IP out of the rendered network template: the estimate follows."""
    artifacts = pipeline.render(config("prod"))
    before = cost.estimate(artifacts, PRICES)[0]
    edited: list[Artifact] = []
    for a in artifacts:
        if a.filename == "network.yaml":
            doc = copy.deepcopy(a.doc)
            assert doc is not None
            del doc["Resources"]["NatGatewayC"], doc["Resources"]["NatEipC"]
            a = dataclasses.replace(a, doc=doc)
        edited.append(a)
    after = cost.estimate(edited, PRICES)[0]
    assert line(before, "nat-hours").monthly_min - line(after, "nat-hours").monthly_min == pytest.approx(
        P.nat_gateway.hour * HOURS
    )
    assert line(before, "public-ipv4").monthly_min - line(after, "public-ipv4").monthly_min == pytest.approx(
        P.public_ipv4.hour * HOURS
    )


def test_public_ipv4_is_the_nat_eips_plus_one_per_alb_subnet() -> None:
    # The ALB's subnets are a parameter of compute.yaml, followed through root.yaml to network.yaml's output.
    ip = P.public_ipv4.hour * HOURS
    assert line(estimate_of(config("prod")), "public-ipv4").monthly_min == pytest.approx((3 + 3) * ip)
    assert line(estimate_of(config("dev")), "public-ipv4").monthly_min == pytest.approx((1 + 2) * ip)


def test_aurora_scales_from_min_to_max_acu_on_every_instance() -> None:
    prod = config("prod")
    three_readers = prod.model_copy(update={"database": prod.database.model_copy(update={"readers": 3})})
    acu = P.aurora.acu_hour * HOURS
    one = line(estimate_of(prod), "aurora-acu")
    assert (one.monthly_min, one.monthly_max) == (pytest.approx(2 * 0.5 * acu), pytest.approx(2 * 16 * acu))
    three = line(estimate_of(three_readers), "aurora-acu")
    assert (three.monthly_min, three.monthly_max) == (pytest.approx(4 * 0.5 * acu), pytest.approx(4 * 16 * acu))
    dev = line(estimate_of(config("dev")), "aurora-acu")
    assert (dev.monthly_min, dev.monthly_max) == (0, pytest.approx(1 * 2 * acu))  # min 0: it may pause


def test_fargate_counts_autoscaling_bounds_and_spot_beyond_the_first_task() -> None:
    f = P.fargate
    api = line(estimate_of(config("prod")), "fargate:nlsql-prod-api")  # 1024/2048, 2-6, on demand
    task = (1 * f.vcpu_hour + 2 * f.gb_hour) * HOURS
    assert (api.monthly_min, api.monthly_max) == (pytest.approx(2 * task), pytest.approx(6 * task))
    dev = line(estimate_of(config("dev")), "fargate:nlsql-dev-api")  # 512/1024, 1-2, the second on Spot
    task = (0.5 * f.vcpu_hour + 1 * f.gb_hour) * HOURS
    assert dev.monthly_min == pytest.approx(task)
    assert dev.monthly_max == pytest.approx(task + task * (1 - f.spot_discount))
    spotless = config("dev").model_copy(
        update={"compute": config("dev").compute.model_copy(update={"fargate_spot": False})}
    )
    assert line(estimate_of(spotless), "fargate:nlsql-dev-api").monthly_max == pytest.approx(2 * task)


def test_kms_keys_and_secrets_come_from_the_templates() -> None:
    assert line(estimate_of(config("prod")), "kms").monthly_min == pytest.approx(P.kms.key_month)
    assert estimate_of(config("dev")).item("kms") is None  # AES256: no key
    # The only secret is the one ManageMasterUserPassword makes.
    assert line(estimate_of(config("dev")), "secrets").monthly_min == pytest.approx(P.secrets_manager.secret_month)


def test_waf_is_counted_where_params_turn_it_on() -> None:
    prod = config("prod")
    assert prod.compute.waf.enabled
    assert line(estimate_of(prod), "waf").monthly_min == pytest.approx(P.waf.web_acl_month)
    assert line(estimate_of(prod), "waf-rules").monthly_min == pytest.approx(3 * P.waf.rule_month), "2 groups, 1 rate"
    off = prod.model_copy(update={"compute": prod.compute.model_copy(update={
        "waf": prod.compute.waf.model_copy(update={"enabled": False})})})  # fmt: skip
    assert estimate_of(off).item("waf") is None and estimate_of(config("dev")).item("waf-requests") is None


# --- the seed's figures ---------------------------------------------------------------------


def test_prod_nat_and_endpoint_lines_are_the_seeds() -> None:
    prod = estimate_of(config("prod"))
    nat = line(prod, "nat-hours").monthly_min
    assert nat == pytest.approx(3 * P.nat_gateway.hour * HOURS, abs=0.01)
    assert abs(nat - 98) < 1  # the seed: "Multi-AZ NAT Gateway ($98/month)"
    endpoints = line(prod, "endpoints").monthly_min
    assert endpoints == pytest.approx(4 * 3 * P.interface_endpoint.az_hour * HOURS, abs=0.01)
    assert abs(endpoints - 88) < 0.5  # the seed: "VPC endpoints ($88/month)"


def test_totals_land_where_the_readme_says() -> None:
    """Prod inside the seed's $300-500; dev above its $50-100 only by the public IPv4 charge (README)."""
    dev, prod = estimate_of(config("dev")), estimate_of(config("prod"))
    assert 300 <= prod.total_min <= 500
    assert 100 < dev.total_min <= 110
    assert 50 <= dev.total_min - line(dev, "public-ipv4").monthly_min <= 100
    assert prod.total_max > prod.total_min and dev.total_max > dev.total_min


# --- the price file -------------------------------------------------------------------------


def _broken(tmp_path: Path, edit: object) -> Path:
    doc = yaml.safe_load(cost.default_path().read_text())
    edit(doc)  # type: ignore[operator]
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d["prices"]["nat_gateway"].update(hour="cheap"), "prices.nat_gateway.hour"),
        (lambda d: d["prices"]["nat_gateway"].update(hours=0.045), "prices.nat_gateway.hours: unknown key"),
        (lambda d: d["prices"]["alb"].update(hour=-1), "prices.alb.hour"),
        (lambda d: d["assumptions"].pop("hours_per_month"), "assumptions.hours_per_month: missing"),
        (lambda d: d.update(date="November"), "date"),
    ],
)
def test_a_malformed_price_file_names_the_file_and_the_key(tmp_path: Path, edit: object, key: str) -> None:
    path = _broken(tmp_path, edit)
    with pytest.raises(BuildError) as caught:
        cost.load_prices(path)
    message = str(caught.value)
    assert str(path) in message and key in message and "Traceback" not in message


def test_a_price_file_that_is_not_yaml_or_is_missing_is_one_error(tmp_path: Path) -> None:
    bad = tmp_path / "prices.yaml"
    bad.write_text("prices: [unclosed\n")
    with pytest.raises(BuildError, match=f"{bad}: not valid YAML"):
        cost.load_prices(bad)
    bad.write_text("region: us-east-1\nregion: eu-west-1\n")
    with pytest.raises(BuildError, match="duplicate key 'region'"):
        cost.load_prices(bad)
    with pytest.raises(BuildError, match="cannot read the price file"):
        cost.load_prices(tmp_path / "absent.yaml")


# --- output ---------------------------------------------------------------------------------


def test_markdown_has_a_row_per_environment_with_its_totals() -> None:
    estimates = [estimate_of(config(env)) for env in ("dev", "staging", "prod")]
    text = cost.markdown(estimates)
    rows = [r for r in text.splitlines() if r.startswith("| ") and not r.startswith("| env")]
    assert [r.split(" | ")[0] for r in rows] == ["| dev", "| staging", "| prod"]
    for row, est in zip(rows, estimates, strict=True):
        assert f"| ${est.total_min:,.2f} | ${est.total_max:,.2f} |" in row
        biggest = max(est.items, key=lambda i: i.monthly_min)
        assert row.split(" | ")[3].startswith(f"{biggest.name} ")
    assert PRICES.date in text


_SCRIPT = """
from pathlib import Path
from rich.console import Console
from builders import params
from builders.docs import cost
from builders.build import pipeline
configs = [params.load(Path("params") / f"{env}.yaml") for env in ("dev", "staging", "prod")]
artifacts = [a for cfg in configs for a in pipeline.render(cfg)]
print(cost.markdown(cost.show(Console(width=200, force_terminal=False), artifacts)))
"""


def test_same_input_same_output_across_processes() -> None:
    """Two interpreters with different hash seeds (set and dict order would show) print the same text."""
    outputs = [
        subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
        ).stdout
        for seed in ("1", "2")
    ]
    assert outputs[0] == outputs[1]
    assert "monthly cost estimate: staging" in outputs[0]


def test_build_py_cost_prints_the_table_and_the_assumptions(committed_copy: Path) -> None:
    result = run_build("prod", "--cost", "--out", committed_copy)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "monthly cost estimate: prod (us-east-1)" in out
    assert "monthly cost estimate: dev" not in out  # only what was asked for
    prod = estimate_of(config("prod"))
    assert f"${prod.total_min:,.2f}" in out and f"${prod.total_max:,.2f}" in out
    assert "NAT gateways" in out and "3 gateways x 730 h" in out and "$98.55" in out
    for key in cost.Assumptions.model_fields:
        assert f"  {key}: " in out
    assert f"as of {PRICES.date}" in out
    assert out.index("built ") < out.index("monthly cost estimate")  # after the build's summary


def test_cost_is_refused_with_check() -> None:
    result = run_build("--check", "--cost")
    assert result.returncode == 2 and "--cost" in result.stderr


def test_help_does_not_import_the_cost_module() -> None:
    probe = "import sys, build\ntry:\n    build.main(['--help'])\nexcept SystemExit:\n    pass\n"
    probe += "print('builders.docs.cost' in sys.modules, 'builders.cli' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    assert "--cost" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "False False"


# --- each region its own prices -------------------------------------------------------------


def _in_region(tmp_path: Path, region: str) -> EnvConfig:
    from tests.conftest import params_in_region

    folder = params_in_region(tmp_path / "params", "abroad", region)
    return params.load(folder / "abroad.yaml")


def test_an_environment_is_priced_with_its_own_regions_file(tmp_path: Path) -> None:
    book = cost.load_book()
    ireland = book["eu-west-1"]
    assert ireland.prices.nat_gateway.hour != PRICES.prices.nat_gateway.hour  # else this test proves nothing
    artifacts = pipeline.render(config("dev")) + pipeline.render(_in_region(tmp_path, "eu-west-1"))
    dev, abroad = cost.estimate(artifacts, book)
    assert (dev.region, abroad.region) == ("us-east-1", "eu-west-1")
    assert line(dev, "nat-hours").monthly_min == pytest.approx(P.nat_gateway.hour * HOURS)
    assert line(abroad, "nat-hours").monthly_min == pytest.approx(ireland.prices.nat_gateway.hour * HOURS)
    assert abroad.prices is ireland and ireland.assumptions == A  # usage is not regional: one set of assumptions
    assert "eu-west-1 as of" in cost.markdown([dev, abroad]) and "us-east-1 as of" in cost.markdown([dev, abroad])


def test_a_region_with_no_price_file_is_priced_at_us_east_1_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "params"
    _in_region(tmp_path, "eu-north-1")
    result = run_build("abroad", "--cost", "--params-dir", folder, "--out", tmp_path / "templates")
    assert result.returncode == 0, result.stderr
    assert "monthly cost estimate: abroad (eu-north-1)" in result.stdout
    assert "priced at us-east-1 list prices; eu-north-1 has no price file" in result.stdout
    assert "prices-eu-north-1.yaml" in result.stdout


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("prices-eu-west-2.yaml", "region: eu-west-1\n", "the file name says 'eu-west-2'"),
        ("prices-us-east-1.yaml", "region: us-east-1\n", "us-east-1 is already priced by"),
        ("prices-eu-west-1.yaml", "region: eu-west-1\nassumptions: {}\n", "assumptions: not allowed in a regional"),
    ],
)
def test_a_regional_price_file_must_name_its_region_and_only_its_prices(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    base = cost.default_path()
    (tmp_path / base.name).write_text(base.read_text())
    regional = base.with_name("prices-eu-west-1.yaml").read_text()
    body = regional.split("\nregion: eu-west-1\n", 1)[1]
    (tmp_path / name).write_text(text + body)
    with pytest.raises(BuildError, match=says) as caught:
        cost.load_book(folder=tmp_path)
    assert str(tmp_path / name) in str(caught.value)
