"""What the build generates about the templates: README.md's sections, docs/<env>.svg, the cost estimate.

readme (the README's generated sections), diagram (DOT and SVG), cost and
prices.yaml (`--cost`), readback (reading rendered templates back),
generated (the list of generated files) and output (writing them). They are
made from the build's artifacts, so this package may import the stack
builders and builders.build; never builders.deploy or builders.cli.
"""
