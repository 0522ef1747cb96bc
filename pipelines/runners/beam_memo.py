"""Two fixes to Apache Beam's pipeline construction cost: introspection done once, not each time.

Every Beam-based TFX component (ExampleGen, StatisticsGen, Transform, Evaluator) builds a Beam
pipeline in each execution, and at ~1,000 rows per span most of an execution is construction.
Beam 2.77 repeats two computations whose answers cannot change while a pipeline is built:

- the arguments of every method of every DoFn: `userstate.get_dofn_specs` walks `dir(dofn)` and
  wraps each method (transforms/userstate.py:247-281, runners/common.py:157), from ParDo.__init__,
  ParDo.to_runner_api, the direct runner's visitors and more (transforms/core.py:1777-1950,
  runners/direct/direct_runner.py:112, 177); each wrap calls
  `transforms.core.get_function_args_defaults` (core.py:382-410), i.e. `inspect.signature`;
- a view of the pipeline options: `PipelineOptions.view_as` builds and runs a new argparse parser
  on every call (options/pipeline_options.py:630-667), and it is called for each transform
  applied (pipeline.py:801, 979) and each type-consistency check (typehints/typehints.py:1500-1505).

A py-spy profile of a full local run (16 spans) had 11.6 s of 68 s in the first, and, once it was
fixed, 9.0 s of 60 s in the second. Beam's maintainers proposed memoizing both (apache/beam pull
request 9925, "3x speedup in FnApiRunner for trivial pipelines"); it was closed unmerged.

`install()` wraps both with caches; the answers are Beam's own, computed once:
- argument lists per callable (a bound method by its function: binding does not change a signature,
  and Beam makes a new bound method at every `getattr`); callers get fresh lists;
- one view per (options object, view class), recomputed if the object's flags or option store were
  replaced. A view reads and writes the options object's shared store (`_all_options`), so a cached
  view sees every change made through any other view, as a new one would.
Callables or objects that cannot be weakly referenced or hashed go straight to Beam's functions.
Measured both sides on a full run from an empty store (16 spans, one after the other on the same
machine): arguments 73.5 s without, 58.5 s with; views: see docs/results.md (Benchmark).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

Arguments = tuple[list[str], list[Any]]
_MARK = "_openct_memoized"


def memoized(compute: Callable[[Any], Arguments]) -> Callable[[Any], Arguments]:
    """`compute(f)` -> (argument names, defaults), remembered per function while it lives."""
    cache: weakref.WeakKeyDictionary[Any, dict[bool, Arguments]] = weakref.WeakKeyDictionary()

    def get_function_args_defaults(f: Any) -> Arguments:
        function = getattr(f, "__func__", None)
        key, bound = (function, True) if function is not None else (f, False)
        try:
            per_key = cache.setdefault(key, {})
        except TypeError:  # not hashable or not weakly referenceable (a builtin): as before
            return compute(f)
        found = per_key.get(bound)
        if found is None:
            found = per_key[bound] = compute(f)
        args, defaults = found
        return list(args), list(defaults)  # callers get their own lists, as from Beam

    setattr(get_function_args_defaults, _MARK, True)
    get_function_args_defaults.cache = cache  # type: ignore[attr-defined]  # for the tests
    get_function_args_defaults.__doc__ = compute.__doc__
    return get_function_args_defaults


def memoized_views(view_as: Callable[[Any, type], Any]) -> Callable[[Any, type], Any]:
    """`PipelineOptions.view_as`, one view per (options object, class) while the object lives."""
    views: weakref.WeakKeyDictionary[Any, dict[type, Any]] = weakref.WeakKeyDictionary()

    def cached_view_as(self: Any, cls: type) -> Any:
        try:
            per_options = views.setdefault(self, {})
        except TypeError:
            return view_as(self, cls)
        view = per_options.get(cls)
        # object.__getattribute__: PipelineOptions.__getattr__ answers only option names
        flags, store = object.__getattribute__(self, "_flags"), object.__getattribute__(self, "_all_options")
        if view is None or view._flags is not flags or view._all_options is not store:
            view = per_options[cls] = view_as(self, cls)
        return view

    setattr(cached_view_as, _MARK, True)
    cached_view_as.__doc__ = view_as.__doc__
    return cached_view_as


def install() -> None:
    """Installs both once per process. Beam's callers look the function up in its module at call
    time (core.py:379, runners/common.py:157), and `view_as` is a method."""
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.transforms import core

    if not getattr(core.get_function_args_defaults, _MARK, False):
        core.get_function_args_defaults = memoized(core.get_function_args_defaults)
    if not getattr(PipelineOptions.view_as, _MARK, False):
        PipelineOptions.view_as = memoized_views(PipelineOptions.view_as)
