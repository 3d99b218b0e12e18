"""Reading params/<env>.yaml into an EnvConfig, or one readable ConfigError.

Every failure (a missing file, YAML that does not parse, a duplicate key, a
wrong type, an unknown key, a CIDR that does not fit) becomes a ConfigError
whose message names the file and the key path and says what is allowed, so
the CLI can print it and exit without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from builders import paramfiles
from builders.config import RENAMED, EnvConfig, Problem, cross_checks
from builders.errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML lets the last one win) and aliases.

    An alias (`*name`) is refused outright rather than expanded within a
    budget: a params file is a few dozen keys that nobody needs to share,
    and an expanding alias is how 1 KB of YAML becomes gigabytes ("billion
    laughs"). The anchor alone (`&name`) is harmless and allowed.
    """

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"YAML aliases (*{event.anchor}) are not allowed in this file; write the value out in full",
                event.start_mark,
            )
        return super().compose_node(parent, index)  # type: ignore[no-any-return]


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value, not a list or mapping", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


environments = paramfiles.environments


def params_path(params_dir: Path, env: str) -> Path:
    """The params file of `env`, or a ConfigError naming the environments that exist."""
    known = environments(params_dir)
    path = params_dir / f"{env}{paramfiles.SUFFIX}"
    if not paramfiles.is_env_name(env):
        lower = env.lower().replace("_", "-").replace(" ", "-")
        hint = f" Did you mean {lower!r}?" if paramfiles.is_env_name(lower) else ""
        there = f" ({path} is ignored for that reason)" if path.exists() or path.is_symlink() else ""
        raise ConfigError(
            f"{env!r} is not a valid environment name{there}: names are {paramfiles.NAME_RULE}. "
            f"Known environments: {', '.join(known) or 'none'}.{hint}"
        )
    if not path.exists() and not path.is_symlink():
        close = difflib.get_close_matches(env, known, n=1)
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown environment {env!r}: there is no {path}. Known environments: "
            f"{', '.join(known) or 'none'} (one params/<name>.yaml each).{suggestion}"
        )
    return path


def load_all(
    params_dir: Path, envs: Iterable[str], sources: Mapping[str, bytes | None] | None = None
) -> dict[str, EnvConfig]:
    """Each named environment's config (once each, in order), every problem of every file in one ConfigError:
    a user fixing params sees all of them at once, not one per run. `sources`: bytes already read, by name."""
    configs: dict[str, EnvConfig] = {}
    problems = []
    for env in dict.fromkeys(envs):
        try:
            configs[env] = load(params_path(params_dir, env), (sources or {}).get(env))
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    return configs


def load(path: Path, data: bytes | None = None) -> EnvConfig:
    """Parse and validate one params file: its bytes as `paramfiles.read` gives them, or as given (already read)."""
    data = paramfiles.read(path) if data is None else data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 (byte {data[exc.start]:#04x}); save it as UTF-8") from None
    try:
        doc = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_one_line(exc)}") from None
    except RecursionError:  # PyYAML recurses once per level of nesting; found by tests/test_fuzz_params.py
        raise ConfigError(f"{path}: nested too deeply to be a params file (a few levels of mappings)") from None
    if not isinstance(doc, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys (environment, region, network, storage, ...), "
            f"not {type(doc).__name__}"
        )
    try:
        cfg = EnvConfig.model_validate(doc)
    except RecursionError:  # a YAML alias that contains itself (`a: &x [*x]`)
        raise ConfigError(f"{path}: a YAML alias refers to itself; params files cannot be recursive") from None
    except ValidationError as exc:
        raise ConfigError(_format(path, _problems(exc.errors()))) from None
    problems = cross_checks(cfg)
    if not problems:  # names the alarms the environment makes: only for an otherwise valid config
        from builders.monitoring import rollback_problems

        problems += rollback_problems(cfg)
    if cfg.environment != path.stem:
        problems.insert(
            0,
            (
                "environment",
                f"is {cfg.environment!r} but the file is {path.name}; they must match (environment: {path.stem})",
            ),
        )
    if problems:
        raise ConfigError(_format(path, problems))
    return cfg


def _problems(errors: list[Any]) -> list[Problem]:
    """Each error described; a key reported missing because the file has it under an old name is said once."""
    paths = [".".join(str(part) for part in err["loc"] if not isinstance(part, int)) for err in errors]
    moved = {
        RENAMED[p][0] for p, err in zip(paths, errors, strict=True) if err["type"] == "extra_forbidden" and p in RENAMED
    }
    return [
        _describe(err) for p, err in zip(paths, errors, strict=True) if not (err["type"] == "missing" and p in moved)
    ]


def _one_line(exc: yaml.YAMLError) -> str:
    return " ".join(str(exc).split())


def _format(path: Path, problems: list[Problem]) -> str:
    count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
    lines = [f"{path}: {count}; nothing was built."]
    lines += [f"  {key or '(top level)'}: {message}" for key, message in problems]
    return "\n".join(lines)


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the mapping at `loc`, to list its allowed keys."""
    model: Any = EnvConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        model = _unwrap_model(field.annotation)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def _describe(err: dict[str, Any]) -> Problem:
    """A pydantic error as (key path, message with what is allowed and what was given)."""
    loc = tuple(err["loc"])
    key = _key_path(loc)
    kind = err["type"]
    given = err.get("input")
    if kind == "extra_forbidden":
        renamed = RENAMED.get(".".join(str(part) for part in loc if not isinstance(part, int)))
        if renamed is not None:
            new, takes = renamed
            return key, f"this key belongs to another params layout: rename it to {new} ({takes})"
        owner = _model_at(loc[:-1])
        allowed = sorted(owner.model_fields) if owner else []
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        return key, f"unknown key{suggestion}; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        return key, "is required but missing"
    message = err["msg"]
    if kind == "value_error":  # our own validators: the message already shows the value
        return key, message.removeprefix("Value error, ")
    message = message.replace("Input should be", "must be", 1)
    if kind in {"tuple_type", "list_type"}:  # params write lists; "tuple" is the model's word, not YAML's
        return key, f"must be a list (in YAML, one `- item` per line, or [a, b]); got {_show(given)}"
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        owner = _model_at(loc)
        keys = f" with keys {', '.join(sorted(owner.model_fields))}" if owner else ""
        return key, f"must be a mapping{keys}, got {_show(given)}"
    return key, f"{message}; got {_show(given)}"


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"
