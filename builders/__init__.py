"""nlsql-infra's builders, in four concerns; each may import only what is below it.

- Stack builders and the helpers they share, here at `builders/*.py`: one
  pure `build(cfg) -> Template` per stack (network, storage, database,
  compute, root, bootstrap, github) and what they share (config, params,
  errors, naming, tags, iam, policies, shared, subnets, regions, app,
  scanners). They import only each other: never build, docs, deploy or cli.
  `builders/functions/` holds Lambda code shipped inside templates, which
  imports nothing of builders at all.
- `builders.build`: the build machinery (render, lint, limits, write, the
  caches, the params schema). It may import the stack builders.
- `builders.docs`: what the build generates about the templates (README
  sections, diagrams, the cost estimate). It reads templates through the
  build machinery and may import stack builders and build, not deploy.
- `builders.deploy`: change sets against AWS. Like docs it may import stack
  builders and build, not docs.
- `builders.cli` ties them together; `build.py` imports only it.

tests/test_layout.py holds these rules over every import in the tree.
"""
