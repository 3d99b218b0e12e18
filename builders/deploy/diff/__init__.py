"""`build.py ENV --diff [REF]`: what this build changes against a git ref or what is deployed, offline-first.

Part of builders.deploy (it predicts a deploy's change set and shares its
guard), so it imports what deploy may: the stack builders, builders.build
and builders.deploy; boto3 only for `--diff deployed`.

The rows (model.py) are plain frozen dataclasses computed by pure functions
(templates.py for one stack, environment.py for the root and its nested
stacks together), so other views (--drift, --plan) can sit beside them; the
sources (gitref.py, deployed.py) and the renderers (render.py) are apart.
"""
