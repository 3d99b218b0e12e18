"""cfn-lint 1.58.0's validator bookkeeping made cheaper, with the same findings; applied once per lint process.

Profiled on this repository's templates, about a third of cfn-lint's time
was not validation but its bookkeeping around it: each schema rule that
extends a validator (some 70 times per template) had `create` write and
compile a new dataclass, and every step down a template (~15,000 per
template) rebuilt a Validator and a Context through `dataclasses.fields`,
which walks every field each time. None of that depends on the template:

- `create` makes a class from its arguments alone (the validators, the
  function filter, the function resolvers), and nothing changes such a
  class or those arguments afterwards, so a class made from equal
  arguments is reused. Arguments that cannot be compared are not cached.
- a dataclass's fields are fixed when the class is made, so `fields` of a
  class is computed once per class.
- Context.evolve and each Validator class's evolve copy the same init
  fields as before, in a dict built from a list of their names.

These reach into cfn-lint's internals, so they apply only to the exact
version they were written against (setup.cfg pins it); any other version
runs unpatched. tests/test_lintspeed.py holds that findings are the same as
an unpatched cfn-lint's, in a process of its own. The lint cache's key
includes this file (builders.build.lintcache), as it does lint.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping
from typing import Any

VERSION = "1.58.0"  # the cfn-lint these were written against and checked with

_applied = False


def apply() -> bool:
    """Patch this process's cfn-lint (once); False, and nothing changed, when it is not the version above."""
    global _applied
    if _applied:
        return True
    from cfnlint.version import __version__

    if __version__ != VERSION:
        return False
    import cfnlint.context.context as context
    import cfnlint.jsonschema._filter as function_filter
    import cfnlint.jsonschema.validators as validators

    for module in (context, function_filter, validators):
        module.fields = _class_fields  # type: ignore[attr-defined]
    context.Context.evolve = _context_evolve(context.Context)  # type: ignore[method-assign]
    validators.create = _reusing(validators.create)
    _applied = True
    return True


_FIELDS: dict[type, tuple[dataclasses.Field[Any], ...]] = {}


def _class_fields(obj: Any) -> tuple[dataclasses.Field[Any], ...]:
    """dataclasses.fields, computed once per class (an instance is looked up as before)."""
    if not isinstance(obj, type):
        return dataclasses.fields(obj)
    found = _FIELDS.get(obj)
    if found is None:
        found = _FIELDS[obj] = dataclasses.fields(obj)
    return found


def _init_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def _context_evolve(context_class: type) -> Callable[..., Any]:
    """Context.evolve as cfn-lint 1.58.0 writes it: ref_values merged, every other init field kept unless given."""
    names = _init_names(context_class)

    def evolve(self: Any, **kwargs: Any) -> Any:
        if "ref_values" in kwargs:
            merged = self.ref_values.copy()
            merged.update(kwargs["ref_values"])
            kwargs["ref_values"] = merged
        values = {name: getattr(self, name) for name in names}
        values.update(kwargs)
        return self.__class__(**values)

    return evolve


def _validator_evolve(cls: type) -> Callable[..., Any]:
    """A Validator class's evolve: a new one of this class with every init field kept unless given."""
    names = _init_names(cls)

    def evolve(self: Any, **kwargs: Any) -> Any:
        values = {name: getattr(self, name) for name in names}
        values.update(kwargs)
        return self.__class__(**values)

    return evolve


def _frozen(value: Any) -> Hashable:
    """A hashable stand-in for a value compared by equality (a list as a tuple); TypeError when there is none."""
    if isinstance(value, list | tuple):
        return (type(value), tuple(_frozen(v) for v in value))
    hash(value)
    return value


def _filter_key(function_filter: Any) -> Hashable:
    if function_filter is None:
        return None
    if not dataclasses.is_dataclass(function_filter):
        raise TypeError("not a dataclass: compared by identity, not cached")
    return (
        type(function_filter),
        tuple(_frozen(getattr(function_filter, f.name)) for f in dataclasses.fields(function_filter)),
    )


def _reusing(create: Callable[..., type]) -> Callable[..., type]:
    """cfn-lint's `create`, returning the class it made before for equal arguments (with a faster evolve)."""
    made: dict[Hashable, type] = {}

    def reusing_create(
        validators: Mapping[str, Any] | None = None,
        function_filter: Any = None,
        fn_resolvers: Mapping[str, Any] | None = None,
    ) -> type:
        try:
            key = (
                tuple((validators or {}).items()),
                _filter_key(function_filter),
                tuple((fn_resolvers or {}).items()),
            )
            cls = made.get(key)
        except TypeError:  # something unhashable: a class of its own, as cfn-lint makes it
            return _faster(create(validators, function_filter, fn_resolvers))
        if cls is None:  # the class keeps copies: a caller changing its mappings later changes no cached class
            copies = (
                dict(validators) if validators else None,
                function_filter,
                dict(fn_resolvers) if fn_resolvers else None,
            )
            cls = made[key] = _faster(create(*copies))
        return cls

    return reusing_create


def _faster(cls: type) -> type:
    cls.evolve = _validator_evolve(cls)  # type: ignore[attr-defined]
    return cls
