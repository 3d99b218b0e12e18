"""The root stack: children by relative path, wiring only through GetAtt of child outputs."""

from __future__ import annotations

import pytest
from troposphere import Parameter, Template

from builders import network, root, storage
from builders.params import load
from tests.conftest import ENVS, PARAMS, props, resources, template


@pytest.mark.parametrize("env", ENVS)
def test_root_nests_each_layer_by_relative_path_and_re_exports_through_getatt(env: str) -> None:
    doc = template(env, "root")
    stacks = resources(doc, "AWS::CloudFormation::Stack")
    assert {k: props(v)["TemplateURL"] for k, v in stacks.items()} == {
        "Network": "network.yaml",
        "Storage": "storage.yaml",
    }
    for name, output in doc["Outputs"].items():
        stack, attribute = output["Value"]["Fn::GetAtt"]
        assert stack in stacks and attribute == f"Outputs.{name}"
        assert "Export" not in output


def _consumer(*names: str) -> Template:
    t = Template()
    for name in names:
        t.add_parameter(Parameter(name, Type="String"))
    return t


def test_a_layer_s_parameters_are_filled_from_earlier_layers_outputs() -> None:
    # The mechanism the compute and database layers use.
    cfg = load(PARAMS / "prod.yaml")
    consumer = _consumer("VpcId", "KeyArn")
    layer = root.Layer(
        "compute",
        lambda c: consumer,
        inputs={"VpcId": ("network", network.OUT_VPC_ID), "KeyArn": ("storage", storage.OUT_KEY_ARN)},
    )
    children = {"network": network.build(cfg), "storage": storage.build(cfg), "compute": consumer}
    doc = root.build(cfg, children, (*root.LAYERS, layer)).to_dict()
    assert doc["Resources"]["Compute"]["Properties"]["Parameters"] == {
        "VpcId": {"Fn::GetAtt": ["Network", "Outputs.VpcId"]},
        "KeyArn": {"Fn::GetAtt": ["Storage", "Outputs.DataLakeKeyArn"]},
    }


@pytest.mark.parametrize(
    ("inputs", "params", "message"),
    [
        ({"KeyArn": ("network", "NoSuchOutput")}, ("KeyArn",), "network has no output NoSuchOutput"),
        ({}, ("VpcId",), "parameters \\['VpcId'\\] but the root passes \\[\\]"),
    ],
)
def test_wiring_mistakes_fail_the_build(inputs: dict, params: tuple[str, ...], message: str) -> None:
    cfg = load(PARAMS / "dev.yaml")
    consumer = _consumer(*params)
    children = {"network": network.build(cfg), "storage": storage.build(cfg), "compute": consumer}
    with pytest.raises(ValueError, match=message):
        root.build(cfg, children, (*root.LAYERS, root.Layer("compute", lambda c: consumer, inputs=inputs)))
