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
  fields as before, read in one attrgetter call from a list of their names.
- rule E1101 (CfnLint.cfnLint, ~15,000 calls per build) looked for the
  child rules of each keyword by walking every child rule's keywords on
  every call; the same rules, in the same order, come from an index of
  keyword -> rules, rebuilt whenever the child rules are not the ones it
  was built from (cfn-lint rewires them at the start of each run).
- a JSON-schema fragment (`#/definitions/X`) was resolved by searching the
  whole schema for an `id` first, once per resolver, and a resolver is made
  per resource; the resolution depends only on the schema document (loaded
  once, never changed) and the fragment, so it is kept per document.

These reach into cfn-lint's internals, so they apply only to the exact
version they were written against (setup.cfg pins it); any other version
runs unpatched. tests/test_lintspeed.py holds that findings are the same as
an unpatched cfn-lint's, in a process of its own. The lint cache's key
includes this file (builders.build.lintcache), as it does lint.py.
"""

from __future__ import annotations

import dataclasses
import operator
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
    import cfnlint.schema.resolver._resolver as resolver

    for module in (context, function_filter, validators):
        module.fields = _class_fields  # type: ignore[attr-defined]
    context.Context.evolve = _context_evolve(context.Context)  # type: ignore[method-assign]
    validators.create = _reusing(validators.create)
    resolver.RefResolver.resolve_fragment = _kept_fragments(resolver.RefResolver.resolve_fragment)
    _applied = True
    return True


def apply_to_rules(rules: Any) -> int:
    """Give the loaded E1101 rule (CfnLint) the indexed cfnLint; how many rule classes were patched.

    cfn-lint loads its rules from their files as modules of their own, so
    the class to patch is the loaded rule's, not cfnlint.rules.jsonschema's.
    Only after apply() succeeded (the pinned version); else nothing.
    """
    if not _applied:
        return 0
    patched = 0
    for rule in rules.data.values():
        cls = type(rule)
        if cls.__name__ == "CfnLint" and rule.id == "E1101" and cls.cfnLint is not _indexed_cfn_lint:
            cls.cfnLint = _indexed_cfn_lint  # type: ignore[attr-defined]
            patched += 1
    return patched


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
    read = operator.attrgetter(*names)

    def evolve(self: Any, **kwargs: Any) -> Any:
        if "ref_values" in kwargs:
            merged = self.ref_values.copy()
            merged.update(kwargs["ref_values"])
            kwargs["ref_values"] = merged
        values = dict(zip(names, read(self), strict=False))  # same length: both from names
        values.update(kwargs)
        return self.__class__(**values)

    return evolve


def _validator_evolve(cls: type) -> Callable[..., Any]:
    """A Validator class's evolve: a new one of this class with every init field kept unless given."""
    names = _init_names(cls)
    read = operator.attrgetter(*names)

    def evolve(self: Any, **kwargs: Any) -> Any:
        values = dict(zip(names, read(self), strict=False))  # same length: both from names
        values.update(kwargs)
        return self.__class__(**values)

    return evolve


def _indexed_cfn_lint(self: Any, validator: Any, keywords: Any, instance: Any, schema: Any) -> Any:
    """CfnLint.cfnLint of cfn-lint 1.58.0: each keyword's child rules (those with an id), in child_rules order,
    once per time the rule lists that keyword, and the rule put on an error that has none."""
    from cfnlint.jsonschema._utils import Unset

    validator = validator.evolve(function_filter=validator.function_filter.evolve(add_cfn_lint_keyword=False))
    index = _keyword_index(self)
    for keyword in keywords:
        for rule in index.get(keyword, ()):
            for err in rule.validate(validator, keyword, instance, schema):
                if err.rule is None and isinstance(err.validator, Unset):
                    err.rule = rule
                yield err


def _keyword_index(rule: Any) -> dict[str, list[Any]]:
    """keyword -> the child rules that validate it, for the child rules the rule has now (rebuilt if they changed)."""
    children = tuple(rule.child_rules.values())
    kept = rule.__dict__.get("_nlsql_keyword_index")
    if kept is not None and len(kept[0]) == len(children) and all(map(operator.is_, kept[0], children)):
        return kept[1]
    index: dict[str, list[Any]] = {}
    for child in children:
        if child is None or not child.id:
            continue
        for keyword in child.keywords:
            index.setdefault(keyword, []).append(child)
    rule.__dict__["_nlsql_keyword_index"] = (children, index)
    return index


def _kept_fragments(resolve_fragment: Callable[..., Any]) -> Callable[..., Any]:
    """RefResolver.resolve_fragment, remembered per (schema document, fragment); failures are not remembered.

    The document is held with its results, so its id cannot be reused by another object while they are kept.
    """
    kept: dict[tuple[int, str], tuple[Any, Any]] = {}

    def resolve(self: Any, document: Any, fragment: str) -> Any:
        key = (id(document), fragment)
        found = kept.get(key)
        if found is None or found[0] is not document:
            found = kept[key] = (document, resolve_fragment(self, document, fragment))
        return found[1]

    return resolve


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
