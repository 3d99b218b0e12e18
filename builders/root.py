"""The root stack: nests one stack per layer and wires outputs to inputs.

Layers talk to each other only through here (decision 4 of DESIGN.md). The
wiring rule is one sentence: a child's Parameter takes the Output of the same
name from an earlier child (`!GetAtt <Child>.Outputs.<Name>`); a Parameter no
earlier child outputs becomes a Parameter of the root itself, whose value for
the environment comes from the layer's `values(cfg)` and is written to
parameters.json. Consumers name their parameters with the producer's output
constants (`network.OUT_VPC_ID`), so the contract is a Python name that a
typo cannot silently break, and there are no Exports, so any stack can
change without export locks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from troposphere import GetAtt, Output, Parameter, Ref, Template, cloudformation

from builders import compute, database, monitoring, network, storage
from builders.config import EnvConfig
from builders.naming import description, logical_id
from builders.tags import Module, tags


def _no_values(cfg: EnvConfig) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Layer:
    """One nested stack: its module name, its builder, its deploy-time values, what the root re-exports."""

    module: Module
    build: Callable[[EnvConfig], Template]
    # values of the parameters this layer takes from the root (image tags, certificate), per environment
    values: Callable[[EnvConfig], dict[str, str]] = _no_values
    # outputs of this layer that the root re-exports as its own outputs
    exports: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return f"{self.module}.yaml"


LAYERS: tuple[Layer, ...] = (
    Layer("network", network.build, exports=(network.OUT_VPC_ID,)),
    Layer("storage", storage.build, exports=(storage.OUT_BUCKET_NAME,)),
    Layer(
        "database",
        database.build,
        exports=(database.OUT_ENDPOINT, database.OUT_READER_ENDPOINT, database.OUT_PORT, database.OUT_SECRET_ARN),
    ),
    Layer("compute", compute.build, values=compute.parameter_values, exports=(compute.OUT_URL, compute.OUT_ALB_DNS)),
    Layer("monitoring", monitoring.build, exports=(monitoring.OUT_TOPIC, monitoring.OUT_APP_UNHEALTHY)),
)


def build(cfg: EnvConfig, children: dict[str, Template], layers: tuple[Layer, ...] = LAYERS) -> Template:
    """The root template over the already-built child templates."""
    t = Template(Description=description(cfg, "root stack, nests " + ", ".join(layer.module for layer in layers)))
    produced: dict[str, cloudformation.Stack] = {}  # output name -> the stack that outputs it
    values = parameter_values(cfg, layers)
    for layer in layers:
        child = children[layer.module]
        wiring = {}
        for name, param in child.parameters.items():
            if name in produced:
                wiring[name] = GetAtt(produced[name], f"Outputs.{name}")
            elif name in values:
                wiring[name] = Ref(t.parameters.get(name) or t.add_parameter(_root_parameter(param)))
            else:
                raise ValueError(
                    f"{layer.module}: parameter {name} is neither an earlier layer's output nor given a value"
                )
        stack = t.add_resource(
            cloudformation.Stack(
                logical_id(layer.module),
                # A relative path: `aws cloudformation package` uploads it and rewrites the URL.
                TemplateURL=layer.filename,
                Tags=tags(cfg, "root"),
                **({"Parameters": wiring} if wiring else {}),
            )
        )
        for name in child.outputs:
            if name in produced:
                raise ValueError(f"{layer.module}: output {name} is already an output of {produced[name].title}")
            produced[name] = stack
        for name in layer.exports:
            if name not in child.outputs:
                raise ValueError(f"{layer.module} has no output {name} to export")
            t.add_output(
                Output(name, Description=child.outputs[name].Description, Value=GetAtt(stack, f"Outputs.{name}"))
            )
    unused = sorted(set(values) - set(t.parameters))
    if unused:
        raise ValueError(f"values given for parameters no layer takes: {unused}")
    return t


def parameter_values(cfg: EnvConfig, layers: tuple[Layer, ...] = LAYERS) -> dict[str, str]:
    """Every root parameter's value for this environment (what parameters.json holds)."""
    values: dict[str, str] = {}
    for layer in layers:
        values |= layer.values(cfg)
    return values


def _root_parameter(child: Parameter) -> Parameter:
    """The root's copy of a child's parameter: same type, description and constraints, no default.

    An SSM-typed parameter stays a plain String at the root, so the parameter's
    *name* passes through and the child resolves it (resolving at the root
    would hand the child a value where it expects a name).
    """
    props = {k: v for k, v in child.properties.items() if k != "Default"}
    if str(props.get("Type", "")).startswith("AWS::SSM::Parameter::Value"):
        props["Type"] = "String"
    return Parameter(child.title, **props)
