"""The build machinery: params in, linted templates on disk out.

Rendering (pipeline, render), cfn-lint and its cache and fork server (lint,
lintcache, lintserver), CloudFormation's limits, the proof of the network
flows (flows), atomic writes and staleness (output), the last build's record (buildstamp) and the params JSON Schema
(schema). It may import the stack builders (builders/*.py) and itself;
never builders.docs, builders.deploy or builders.cli, which sit on top of it.
"""
