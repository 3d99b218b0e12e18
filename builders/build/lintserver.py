"""What the lint fork server imports before it forks any worker: cfn-lint, ready to lint.

multiprocessing's fork server can only be told which modules to import
(set_forkserver_preload), so importing this one is the warm-up: every
worker forked afterwards starts with cfn-lint imported and its rules
loaded (builders.build.lint.LintPool). A failure here is not reported: the
server swallows it, and each worker then runs the same warm-up itself,
where an error breaks the pool and the build says so.
"""

from builders.build import lint

try:
    lint.warm()
except Exception:  # noqa: BLE001, S110 (see the module's note)
    pass
