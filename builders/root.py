"""The root stack: nests one stack per layer and wires outputs to inputs.

Layers talk to each other only through here (decision 4 of DESIGN.md): a
child's Output becomes the next child's Parameter via
`!GetAtt <Child>.Outputs.<Name>`. There are no Exports, so any stack can
change without export locks. Adding a layer is one `Layer` row: its builder,
and which outputs of earlier layers feed its parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from troposphere import GetAtt, Output, Template, cloudformation

from builders import network, storage
from builders.config import EnvConfig
from builders.naming import description, logical_id
from builders.tags import Module, tags


@dataclass(frozen=True)
class Layer:
    """One nested stack: its module name, its builder, and where its parameters come from."""

    module: Module
    build: Callable[[EnvConfig], Template]
    # parameter name -> (producing layer, output name)
    inputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    # outputs of this layer that the root re-exports as its own outputs
    exports: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return f"{self.module}.yaml"


LAYERS: tuple[Layer, ...] = (
    Layer(
        "network",
        network.build,
        exports=(network.OUT_VPC_ID, *network.OUT_SUBNET_IDS.values()),
    ),
    Layer("storage", storage.build, exports=(storage.OUT_BUCKET_NAME, storage.OUT_BUCKET_ARN)),
)


def build(cfg: EnvConfig, children: dict[str, Template], layers: tuple[Layer, ...] = LAYERS) -> Template:
    """The root template over the already-built child templates (used to check the wiring)."""
    t = Template(Description=description(cfg, "root stack, nests " + ", ".join(layer.module for layer in layers)))
    stacks: dict[str, cloudformation.Stack] = {}
    for layer in layers:
        child = children[layer.module]
        _check_wiring(layer, child, children)
        stacks[layer.module] = t.add_resource(
            cloudformation.Stack(
                logical_id(layer.module),
                # A relative path: `aws cloudformation package` uploads it and rewrites the URL.
                TemplateURL=layer.filename,
                Parameters={param: GetAtt(stacks[src], f"Outputs.{out}") for param, (src, out) in layer.inputs.items()},
                Tags=tags(cfg, "root"),
            )
        )
        for out in layer.exports:
            t.add_output(
                Output(
                    out,
                    Description=child.outputs[out].Description,
                    Value=GetAtt(stacks[layer.module], f"Outputs.{out}"),
                )
            )
    return t


def _check_wiring(layer: Layer, child: Template, children: dict[str, Template]) -> None:
    """A wiring mistake is a programming error in the layer table: fail loudly at build time."""
    wanted = set(child.parameters)
    given = set(layer.inputs)
    if wanted != given:
        raise ValueError(f"{layer.module}: parameters {sorted(wanted)} but the root passes {sorted(given)}")
    for param, (src, out) in layer.inputs.items():
        if out not in children[src].outputs:
            raise ValueError(f"{layer.module}.{param}: {src} has no output {out}")
    for out in layer.exports:
        if out not in child.outputs:
            raise ValueError(f"{layer.module} has no output {out} to export")
