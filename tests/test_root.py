"""The root stack: children by relative path, wiring only through GetAtt of child outputs."""

from __future__ import annotations

import json

import pytest
from troposphere import Output, Parameter, Template

from builders import network, root, storage
from builders.params import load
from tests.conftest import ENVS, PARAMS, STACKS, TEMPLATES, props, resources, template

ORDER = ["Network", "Storage", "Database", "Compute", "Monitoring"]  # each reads only what those before it made


@pytest.mark.parametrize("env", ENVS)
def test_root_nests_each_layer_by_relative_path_in_dependency_order(env: str) -> None:
    stacks = resources(template(env, "root"), "AWS::CloudFormation::Stack")
    assert list(stacks) == ORDER
    assert {k: props(v)["TemplateURL"] for k, v in stacks.items()} == {k: f"{k.lower()}.yaml" for k in ORDER}


@pytest.mark.parametrize("env", ENVS)
def test_every_child_parameter_is_an_earlier_child_output_or_a_root_parameter(env: str) -> None:
    doc = template(env, "root")
    seen: list[str] = []
    for logical_id, stack in resources(doc, "AWS::CloudFormation::Stack").items():
        child = template(env, logical_id.lower())
        given = props(stack).get("Parameters", {})
        assert set(given) == set(child.get("Parameters", {})), logical_id
        for name, value in given.items():
            if "Fn::GetAtt" in value:
                source, attribute = value["Fn::GetAtt"]
                assert source in seen, f"{logical_id}.{name} reads {source}, which is not created before it"
                assert attribute == f"Outputs.{name}" and name in template(env, source.lower())["Outputs"]
            else:
                assert value == {"Ref": name} and name in doc["Parameters"]
        seen.append(logical_id)


@pytest.mark.parametrize("env", ENVS)
def test_no_exports_anywhere(env: str) -> None:
    for stack in STACKS:
        assert not any("Export" in o for o in template(env, stack).get("Outputs", {}).values())


@pytest.mark.parametrize("env", ENVS)
def test_root_outputs_give_the_app_url_the_db_endpoint_and_the_bucket(env: str) -> None:
    outputs = template(env, "root")["Outputs"]
    assert {"AppUrl", "DatabaseEndpoint", "DataLakeBucketName"} <= set(outputs)
    for name, output in outputs.items():
        stack, attribute = output["Value"]["Fn::GetAtt"]
        assert attribute == f"Outputs.{name}" and output["Description"]


@pytest.mark.parametrize("env", ENVS)
def test_parameters_json_gives_every_root_parameter_a_value(env: str) -> None:
    overrides = json.loads((TEMPLATES / env / "parameters.json").read_text())
    assert all(isinstance(o, str) and o.count("=") >= 1 for o in overrides)
    assert [o.split("=", 1)[0] for o in overrides] == list(template(env, "root").get("Parameters", {}))


def _consumer(*names: str) -> Template:
    t = Template()
    for name in names:
        t.add_parameter(Parameter(name, Type="String"))
    return t


def _children(cfg, **extra: Template) -> dict[str, Template]:
    return {"network": network.build(cfg), "storage": storage.build(cfg), **extra}


def test_a_parameter_named_like_an_earlier_output_is_wired_to_it() -> None:
    cfg = load(PARAMS / "prod.yaml")
    layers = (*root.LAYERS[:2], root.Layer("extra", lambda c: consumer))
    consumer = _consumer(network.OUT_VPC_ID, storage.OUT_KEY_ARN)
    doc = root.build(cfg, _children(cfg, extra=consumer), layers).to_dict()
    assert doc["Resources"]["Extra"]["Properties"]["Parameters"] == {
        "VpcId": {"Fn::GetAtt": ["Network", "Outputs.VpcId"]},
        "KmsKeyArn": {"Fn::GetAtt": ["Storage", "Outputs.KmsKeyArn"]},
    }


def test_a_parameter_with_a_value_becomes_a_root_parameter_and_ssm_names_pass_through() -> None:
    cfg = load(PARAMS / "prod.yaml")
    consumer = _consumer("ImageTag")
    consumer.add_parameter(Parameter("Cert", Type="AWS::SSM::Parameter::Value<String>"))
    layer = root.Layer("extra", lambda c: consumer, values=lambda c: {"ImageTag": "1.0", "Cert": "/x/cert"})
    doc = root.build(cfg, _children(cfg, extra=consumer), (*root.LAYERS[:2], layer)).to_dict()
    assert doc["Parameters"] == {"ImageTag": {"Type": "String"}, "Cert": {"Type": "String"}}
    assert doc["Resources"]["Extra"]["Properties"]["Parameters"] == {
        "ImageTag": {"Ref": "ImageTag"},
        "Cert": {"Ref": "Cert"},
    }


@pytest.mark.parametrize(
    ("params", "values", "outputs", "message"),
    [
        (("Nowhere",), {}, (), "parameter Nowhere is neither an earlier layer's output nor given a value"),
        ((), {"Unused": "1"}, (), "values given for parameters no layer takes: \\['Unused'\\]"),
        ((), {}, ("VpcId",), "output VpcId is already an output of Network"),
    ],
)
def test_wiring_mistakes_fail_the_build(params: tuple, values: dict, outputs: tuple, message: str) -> None:
    cfg = load(PARAMS / "dev.yaml")
    consumer = _consumer(*params)
    for name in outputs:
        consumer.add_output(Output(name, Value="x"))
    layer = root.Layer("extra", lambda c: consumer, values=lambda c: values)
    with pytest.raises(ValueError, match=message):
        root.build(cfg, _children(cfg, extra=consumer), (*root.LAYERS[:2], layer))
