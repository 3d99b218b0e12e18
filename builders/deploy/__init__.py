"""Deploying what build.py builds: bootstrap, upload, change set, preview, guard, execute, follow.

One module per step; `builders.deploy.run` strings them together. The
`diff` package predicts, offline, what a deploy would change (against a git
ref, or the deployed templates), with the guard's own rules. boto3 is
imported only here, so building templates never pays for it. It takes the
build's artifacts (builders.build.pipeline) and may import the stack
builders and builders.build; never builders.docs or builders.cli.
"""
