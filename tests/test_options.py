"""Declared options: one class per type is the parser, the checks and the reference."""

from __future__ import annotations

import pytest

from watchd.core.context import Checking, Registry
from watchd.core.errors import UsageError
from watchd.core.option_kinds import (
    Choice,
    Duration,
    Flag,
    Number,
    OptionalText,
    Secret,
    Size,
    Text,
)
from watchd.core.options import OptionSet
from watchd.core.plugins import PluginHost
from watchd.core.sizes import parse_size, shown_size
from watchd.core.spec import TableSpec, parse_spec
from watchd.watchers.audit import AuditOptions
from watchd.watchers.files.settings import TrailOptions


class Sample(OptionSet):
    """A sample type."""

    target_form = "PATH"
    target_required = True
    example = "sample:/x"
    count = Number(3, "how many", minimum=1, maximum=9)
    wait = Duration(2.0, "how long", unit="ms", minimum=0.001)
    stamp = Duration(1.0, "a new option: its unit is written", unit=None)
    size = Size(1024, "how much", minimum=64)
    fast = Flag(False, "go fast")
    mode = Choice(("a", "b"), "a", "which")
    label = Text("x", "a label")
    note = OptionalText("a note")
    api_key = Secret("the key", env="SAMPLE_KEY")


@pytest.fixture
def checking():
    return Checking(Registry())


def parsed(text, checking):
    spec = parse_spec(text, "--sink")
    options = Sample.take(spec.options, spec.target, checking)
    spec.options.finish()
    return options


def test_each_kind_reads_its_grammar(checking):
    options = parsed(
        "sample:/x,count=9,wait=250,stamp=1m,size=64KiB,fast=on,mode=b,label=y,note=n", checking
    )
    assert options.count == 9
    assert options.wait == 0.25  # a bare number is in the option's unit
    assert options.stamp == 60.0
    assert options.size == 65536
    assert options.fast is True
    assert options.mode == "b"
    assert (options.label, options.note, options.target) == ("y", "n", "/x")
    assert options.given == {"count", "wait", "stamp", "size", "fast", "mode", "label", "note"}


def test_defaults_apply_when_nothing_is_given(checking):
    options = parsed("sample:/x", checking)
    assert (options.count, options.wait, options.size, options.fast) == (3, 2.0, 1024, False)
    assert options.note is None
    assert options.given == frozenset()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("count=0", "count='0': expected a whole number from 1 to 9"),
        ("count=10", "count='10': expected a whole number from 1 to 9"),
        ("count=five", "count='five': expected a whole number from 1 to 9"),
        ("wait=fast", "wait='fast': expected a duration (250ms, 5s, 2m, 1h; a bare number is in"),
        ("wait=0", "wait='0': expected a duration (250ms, 5s, 2m, 1h; a bare number is in ms), at"),
        ("stamp=500", "stamp='500': expected a duration (250ms, 5s, 2m, 1h)"),
        ("size=1x", "size='1x': expected a size (512, 64KiB, 10MiB, 1GB) from 64"),
        ("size=63", "size='63': expected a size"),
        ("fast=maybe", "fast='maybe': expected yes or no (true/false, on/off, 1/0)"),
        ("mode=c", "mode='c': expected one of a, b"),
        ("cuont=3", "unknown option cuont (accepted: api_key, count, "),
    ],
)  # fmt: skip
def test_a_wrong_value_is_one_line_naming_the_option_the_value_and_the_form(
    checking, option, message
):
    with pytest.raises(UsageError) as caught:
        parsed(f"sample:/x,{option}", checking)
    text = str(caught.value)
    assert text.startswith(f"--sink 'sample:/x,{option}': ")
    assert message in text
    assert "\n" not in text


def test_a_misspelt_key_gets_the_one_meant(checking):
    with pytest.raises(UsageError, match=r"; did you mean count\?$"):
        parsed("sample:/x,cuont=3", checking)


def test_the_target_is_declared(checking):
    with pytest.raises(UsageError, match=r"^--sink 'sample': needs PATH, as in sample:/x$"):
        parsed("sample", checking)

    class NoTarget(OptionSet):
        """Takes none."""

    spec = parse_spec("none:x", "--sink")
    with pytest.raises(UsageError, match="takes no target"):
        NoTarget.take(spec.options, spec.target, checking)


def test_a_secret_never_shows_and_may_come_from_the_environment(checking, monkeypatch):
    with pytest.raises(UsageError) as caught:
        parsed("sample:/x,api_key=hunter2,count=0", checking)
    assert "hunter2" not in str(caught.value)
    assert "api_key=***" in str(caught.value)
    options = parsed("sample:/x,api_key=hunter2", checking)
    assert options.api_key == "hunter2"
    assert options.shown()["api_key"] == "***"
    monkeypatch.setenv("SAMPLE_KEY", "from-env")
    assert parsed("sample:/x", checking).api_key == "from-env"


def test_toml_values_keep_their_types_and_a_wrong_type_is_an_error(checking):
    def table(**values):
        text = "sample:/x," + ",".join(f"{k}={v}" for k, v in values.items())
        spec = parse_spec(TableSpec(text, "sample", "/x", values), "--sink")
        return Sample.take(spec.options, spec.target, checking)

    good = table(count=4, wait=250, size=2048, fast=True, stamp="2s", label="a,b=c")
    assert (good.count, good.wait, good.size, good.fast, good.stamp) == (4, 0.25, 2048, True, 2.0)
    assert good.label == "a,b=c"  # a value holding ",k=" stays whole in a table
    for values, message in [
        ({"count": "4"}, "expected a whole number from 1 to 9, not a string"),
        ({"count": True}, "expected a whole number from 1 to 9, not a boolean"),
        ({"fast": "yes"}, "expected yes or no, not a string"),
        ({"label": 5}, "expected text, not an integer"),
        ({"stamp": 5}, 'write the unit, as in "5s"'),
        ({"mode": ["a"]}, "expected one of a, b, not an array"),
    ]:
        with pytest.raises(UsageError, match=message):
            table(**values)


def test_options_made_in_code_are_typed_and_checked_by_name():
    options = Sample("/x", count=5)
    assert (options.count, options.wait) == (5, 2.0)  # defaults are in seconds
    with pytest.raises(TypeError, match="no option colour"):
        Sample("/x", colour=1)


def test_groups_combine_by_inheritance_own_options_first():
    keys = [option.key for option in AuditOptions.declared()]
    assert keys[:5] == ["from", "last", "schema", "container", "integrity"]
    assert "max_line_bytes" in keys
    assert "rotate_wait" in keys


def test_a_file_source_s_timings_take_units_and_bare_numbers_mean_what_they_meant():
    registry = PluginHost([]).collect()

    def timings(text):
        spec = parse_spec(f"audit:/x,{text}", "--source")
        return registry.sources.parse(spec, Checking(registry)).options.trail_options()

    with_units = timings(
        "poll_interval=100ms,rescan=1m,rotate_wait=7s,hold_removed=2m,copy_wait=3s"
    )
    bare = timings("poll_interval=100,rescan=60,rotate_wait=7000,hold_removed=120,copy_wait=3000")
    expected = TrailOptions(
        poll_interval=0.1, rescan_interval=60.0, rotate_wait=7.0, hold_removed=120.0, copy_wait=3.0
    )
    assert with_units == bare == expected


def test_parsing_leaves_the_spec_whole_for_the_next_parse():
    registry = PluginHost([]).collect()
    spec = parse_spec("audit:/x,last=5", "--source")
    first = registry.sources.parse(spec, Checking(registry)).options
    again = registry.sources.parse(spec, Checking(registry)).options
    assert first.last == again.last == 5  # a reload parses the same spec again


def test_a_sink_takes_its_format_s_options_and_refuses_the_rest():
    registry = PluginHost([]).collect()
    spec = parse_spec("file:/tmp/x,format=leef,delimiter=x09,vendor=acme", "--sink")
    shown = registry.sinks.parse(spec, Checking(registry)).options.shown()
    assert (shown["format"], shown["delimiter"], shown["vendor"]) == ("leef", "x09", "acme")
    with pytest.raises(UsageError, match=r"unknown option delimiter .*format, "):
        registry.sinks.parse(parse_spec("file:/tmp/x,delimiter=x09", "--sink"), Checking(registry))


@pytest.mark.parametrize(
    ("text", "size"),
    [("512", 512), ("64KiB", 65536), ("64kib", 65536), ("10MiB", 10 << 20), ("1GB", 10**9),
     ("2 KB", 2000), ("3B", 3), ("1.5MiB", None), ("-1", None), ("MiB", None), ("1 TiB", None)],
)  # fmt: skip
def test_sizes_take_one_grammar(text, size):
    assert parse_size(text) == size


def test_sizes_are_shown_in_the_largest_unit_that_holds_them_whole():
    assert [shown_size(n) for n in (0, 1000, 1024, 16 << 20, 1_000_000, 3 << 30)] == [
        "0", "1000", "1KiB", "16MiB", "1000000", "3GiB",
    ]  # fmt: skip


def test_an_option_may_not_take_a_key_the_spec_uses_or_one_taken():
    with pytest.raises(TypeError, match="option 'target' is the spec's own"):

        class Targeted(OptionSet):
            target = Text("", "shadows the spec's target")

    with pytest.raises(TypeError, match="option 'n' is declared twice"):

        class Twice(OptionSet):
            a = Number(1, "one", key="n")
            b = Number(2, "two", key="n")


def test_a_format_s_options_cannot_undo_the_sink_s_secret(checking):
    class Keyed(OptionSet):
        api_key = Secret("the sink's key")

    class Signed(OptionSet):
        signing = Secret("the format's key")
        width = Number(1, "a width", minimum=1)

    spec = parse_spec("keyed,api_key=hunter2,signing=s3cret,width=0", "--sink")
    sink = Keyed.take(spec.options, "", checking)
    with pytest.raises(UsageError) as caught:
        sink.take_nested(Signed, checking)
    assert "hunter2" not in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "width='0'" in str(caught.value)
