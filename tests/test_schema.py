"""params/schema.json: generated from the config model, committed fresh, and agreeing with the loader."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from builders import params
from builders.build import schema
from tests.conftest import ENVS, PARAMS


def _schema() -> dict:
    return json.loads((PARAMS / schema.SCHEMA_FILE).read_text())


def test_the_committed_schema_is_what_the_model_makes() -> None:
    assert (PARAMS / schema.SCHEMA_FILE).read_text() == schema.text(), "run `python -m builders.build.schema`"


def test_check_exits_non_zero_on_a_stale_schema(tmp_path) -> None:
    (tmp_path / schema.SCHEMA_FILE).write_text("{}\n")
    assert schema.main(["--check", "--params-dir", str(tmp_path)]) == 1
    assert schema.main(["--params-dir", str(tmp_path)]) == 0
    assert (tmp_path / schema.SCHEMA_FILE).read_text() == schema.text()
    assert schema.main(["--check", "--params-dir", str(tmp_path)]) == 0


@pytest.mark.parametrize("env", ENVS)
def test_every_params_file_names_the_schema_and_passes_it(env: str) -> None:
    text = (PARAMS / f"{env}.yaml").read_text()
    assert text.splitlines()[0] == schema.MODELINE
    jsonschema.validate(yaml.safe_load(text), _schema())


@pytest.mark.parametrize(
    "path, value",
    [
        (("network", "az_cuont"), 2),  # a typo'd key
        (("network", "az_count"), 7),  # out of range
        (("network", "flow_logs", "retention_days"), 8),  # not a value CloudWatch accepts
        (("storage", "encryption"), "aes256"),  # not one of the choices
        (("compute", "api", "cpu"), "512"),  # a string, not a number
    ],
)
def test_what_the_loader_refuses_the_schema_refuses_too(tmp_path, path: tuple[str, ...], value: object) -> None:
    doc = yaml.safe_load((PARAMS / "dev.yaml").read_text())
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, _schema())
    target = tmp_path / "dev.yaml"
    target.write_text(yaml.safe_dump(doc))
    with pytest.raises(params.ConfigError):
        params.load(target)
