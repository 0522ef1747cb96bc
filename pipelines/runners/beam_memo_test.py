import functools
import gc

from apache_beam.transforms import core

from pipelines.runners import beam_memo


class Fn:
    def process(self, element, side=3, *args, **kwargs):
        return element

    def __call__(self, x, y=1):
        return x


def test_same_answers_as_beam_computed_once():
    calls = []

    def counted(f):
        calls.append(f)
        return core.get_function_args_defaults(f)

    memo = beam_memo.memoized(counted)
    one, two = Fn(), Fn()
    callables = [one.process, two.process, Fn.process, lambda a, b=2: a, functools.partial(Fn.process, one), one]
    for f in callables:
        assert memo(f) == core.get_function_args_defaults(f)
    assert memo(one.process) == (["element", "side"], [3])  # bound: no `self`, as from Beam
    assert memo(Fn.process) == (["self", "element", "side"], [3])
    computed = len(calls)
    assert computed == len(callables) - 1  # two bindings of one function: computed once
    for f in callables:
        memo(f)
    assert len(calls) == computed  # all remembered


def test_callers_get_their_own_lists_and_unkeyable_callables_still_work():
    memo = beam_memo.memoized(core.get_function_args_defaults)
    args, defaults = memo(Fn().process)
    args.append("poison")
    defaults.clear()
    assert memo(Fn().process) == (["element", "side"], [3])
    assert memo(len) == core.get_function_args_defaults(len)  # builtins cannot be weakly referenced


def test_entries_go_with_their_functions():
    memo = beam_memo.memoized(core.get_function_args_defaults)
    cache = memo.cache  # type: ignore[attr-defined]
    f = eval("lambda q: q")  # noqa: S307 - a function nothing else refers to
    memo(f)
    assert len(cache) == 1
    del f
    gc.collect()
    assert len(cache) == 0


def test_option_views_are_shared_and_see_every_change():
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TypeOptions

    view_as = beam_memo.memoized_views(PipelineOptions.view_as)
    options = PipelineOptions(["--runner", "DirectRunner", "--no_pipeline_type_check"])
    types = view_as(options, TypeOptions)
    assert view_as(options, TypeOptions) is types  # built once
    assert types.pipeline_type_check is False and view_as(options, StandardOptions).runner == "DirectRunner"
    view_as(options, StandardOptions).streaming = True  # through one view ...
    assert view_as(options, StandardOptions).streaming and options.view_as(StandardOptions).streaming  # ... seen by all
    types.pipeline_type_check = True
    assert PipelineOptions.view_as(options, TypeOptions).pipeline_type_check  # Beam's own view agrees
    other = PipelineOptions([])
    assert view_as(other, TypeOptions) is not types and view_as(other, TypeOptions).pipeline_type_check
    options._all_options = dict(options._all_options)  # a replaced store: a new view
    assert view_as(options, TypeOptions) is not types


def test_install_patches_both_once():
    from apache_beam.options.pipeline_options import PipelineOptions

    original_args, original_view = core.get_function_args_defaults, PipelineOptions.view_as
    try:
        beam_memo.install()
        installed = core.get_function_args_defaults, PipelineOptions.view_as
        beam_memo.install()
        assert (core.get_function_args_defaults, PipelineOptions.view_as) == installed
        assert installed[0] is not original_args and installed[1] is not original_view
    finally:
        core.get_function_args_defaults, PipelineOptions.view_as = original_args, original_view
