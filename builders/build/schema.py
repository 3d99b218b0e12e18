"""params/schema.json: the JSON Schema of a params file, generated from the config model.

The model in builders/config.py is the one definition of a params file; the
schema is derived from it, so editors (the YAML language server reads the
`# yaml-language-server: $schema=schema.json` line at the top of each params
file) and pre-commit's check-jsonschema hook check the same keys, types and
ranges the loader does. The rules that span fields (subnets inside the VPC,
AZs the region has) are beyond a schema: the loader still has the last word.

    python -m builders.build.schema           write params/schema.json if it changed
    python -m builders.build.schema --check   exit 1 if the committed schema is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from builders.config import EnvConfig

SCHEMA_FILE = "schema.json"
MODELINE = f"# yaml-language-server: $schema={SCHEMA_FILE}"
PARAMS_DIR = Path(__file__).resolve().parents[2] / "params"


def schema() -> dict[str, Any]:
    doc = EnvConfig.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "nlsql-infra params file (params/<env>.yaml)",
        **{k: v for k, v in doc.items() if k != "title"},
    }


def text() -> str:
    """The schema as committed: sorted keys, two-space indent, one trailing newline (stable diffs)."""
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m builders.build.schema", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the committed schema is stale")
    parser.add_argument("--params-dir", type=Path, default=PARAMS_DIR)
    args = parser.parse_args(argv)
    path = args.params_dir / SCHEMA_FILE
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    fresh = text()
    if current == fresh:
        print(f"fresh: {path}")
        return 0
    if args.check:
        print(
            f"stale: {path} differs from the config model; run `python -m builders.build.schema` and commit",
            file=sys.stderr,
        )
        return 1
    from builders.build.transaction import write_atomic

    write_atomic(path, fresh)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
