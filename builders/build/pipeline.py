"""One environment's config in, its files out: the pure half of a build.

Nothing here touches the disk; `builders.build.output` writes, `builders.build.lint`
lints. Keeping this pure is what lets `--check`, the tests and the benchmark
produce exactly the bytes a build would write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from troposphere import Template

from builders import bootstrap, github, root, stackset_admin, stackset_execution
from builders.build.limits import Usage, usage
from builders.build.render import template_dict, to_json, to_yaml
from builders.config import EnvConfig
from builders.errors import BuildError

PARAMETERS_FILE = "parameters.json"
ROOT_FILE = "root.yaml"
# Every path a build may write under the output folder (builders.build.ownership), the same names render() uses.
SHARED_FILES: tuple[str, ...] = (
    bootstrap.FILENAME,
    github.FILENAME,
    stackset_admin.FILENAME,
    stackset_execution.FILENAME,
)
ENV_FILES: tuple[str, ...] = (*(f"{layer.module}.yaml" for layer in root.LAYERS), ROOT_FILE, PARAMETERS_FILE)


@dataclass(frozen=True)
class Artifact:
    """One file of templates/<env>/: its name, its text, and for a template its limits figures."""

    env: str
    region: str
    filename: str
    text: str
    usage: Usage | None = None
    # The template as a dict (long-form intrinsics), for the deploy to rewrite TemplateURLs in.
    doc: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def relpath(self) -> str:
        """Path under templates/: <env>/<file>, or just <file> for the account-wide ones."""
        return f"{self.env}/{self.filename}" if self.env else self.filename


def parameter_overrides(cfg: EnvConfig, root_doc: dict[str, Any]) -> list[str]:
    """The root stack's parameter values as "Key=Value" strings (the form AWS CLI v1 and v2 both read)."""
    values = root.parameter_values(cfg)
    return [f"{name}={values[name]}" for name in root_doc.get("Parameters", {})]


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


def _artifact(env: str, region: str, filename: str, template: Template) -> Artifact:
    doc = template_dict(template)
    text = to_yaml(doc)
    relpath = f"{env}/{filename}" if env else filename
    return Artifact(env, region, filename, text, usage(relpath, doc, text, inline=not env), doc)


def render(cfg: EnvConfig) -> list[Artifact]:
    """Every file of one environment: each layer's template, the root, and parameters.json."""
    children = {layer.module: _build_layer(cfg, layer) for layer in root.LAYERS}
    artifacts = [_artifact(cfg.environment, cfg.region, f"{m}.yaml", t) for m, t in children.items()]
    root_artifact = _artifact(cfg.environment, cfg.region, ROOT_FILE, root.build(cfg, children))
    assert root_artifact.doc is not None
    overrides = Artifact(
        cfg.environment, cfg.region, PARAMETERS_FILE, to_json(parameter_overrides(cfg, root_artifact.doc))
    )
    return [*artifacts, root_artifact, overrides]


def render_shared(region: str) -> list[Artifact]:
    """The account-wide files at the top of templates/: the bootstrap stack, GitHub Actions' OIDC roles, and the
    StackSets roles that deploy those two to every account and region (README "StackSets")."""
    return [
        _artifact("", region, bootstrap.FILENAME, bootstrap.build()),
        _artifact("", region, github.FILENAME, github.build()),
        _artifact("", region, stackset_admin.FILENAME, stackset_admin.build()),
        _artifact("", region, stackset_execution.FILENAME, stackset_execution.build()),
    ]
