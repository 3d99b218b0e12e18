"""One environment's config in, its files out: the pure half of a build.

Nothing here touches the disk; `builders.output` writes, `builders.lint`
lints. Keeping this pure is what lets `--check`, the tests and the benchmark
produce exactly the bytes a build would write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from troposphere import Template

from builders import root
from builders.config import EnvConfig
from builders.errors import BuildError
from builders.limits import Usage, usage
from builders.render import template_dict, to_json, to_yaml

PARAMETERS_FILE = "parameters.json"


@dataclass(frozen=True)
class Artifact:
    """One file of templates/<env>/: its name, its text, and for a template its limits figures."""

    env: str
    region: str
    filename: str
    text: str
    usage: Usage | None = None

    @property
    def relpath(self) -> str:
        return f"{self.env}/{self.filename}"


def parameter_overrides(cfg: EnvConfig, root_doc: dict[str, Any]) -> list[str]:
    """The root stack's parameter values as "Key=Value" strings (the form AWS CLI v1 and v2 both read)."""
    # The root has no parameters yet: image tags and the certificate ARN arrive with the compute stack.
    values: dict[str, str] = {}
    missing = sorted(set(root_doc.get("Parameters", {})) - set(values))
    if missing:
        raise ValueError(f"no value for root parameters {missing}")
    return [f"{k}={v}" for k, v in values.items()]


def _build_layer(cfg: EnvConfig, layer: root.Layer) -> Template:
    try:
        return layer.build(cfg)
    except ValueError as exc:
        # troposphere enforces the resource, parameter and output limits as it adds
        # them; that is a limit problem of the environment's config, not a crash.
        if str(exc).startswith("Maximum number of"):
            raise BuildError(
                f"{cfg.environment}/{layer.filename}: {exc} (a CloudFormation limit); nothing was written"
            ) from None
        raise


def render(cfg: EnvConfig) -> list[Artifact]:
    """Every file of one environment: each layer's template, the root, and parameters.json."""
    children = {layer.module: _build_layer(cfg, layer) for layer in root.LAYERS}
    templates = {**children, "root": root.build(cfg, children)}
    artifacts = []
    root_doc: dict[str, Any] = {}
    for module, template in templates.items():
        doc = template_dict(template)
        text = to_yaml(template)
        filename = f"{module}.yaml"
        artifacts.append(
            Artifact(cfg.environment, cfg.region, filename, text, usage(f"{cfg.environment}/{filename}", doc, text))
        )
        if module == "root":
            root_doc = doc
    artifacts.append(
        Artifact(cfg.environment, cfg.region, PARAMETERS_FILE, to_json(parameter_overrides(cfg, root_doc)))
    )
    return artifacts
