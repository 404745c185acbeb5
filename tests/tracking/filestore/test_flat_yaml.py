"""The flat meta.yaml reader agrees with PyYAML on everything it reads, and leaves the rest to it."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlrun_cli.tracking.filestore.flat_yaml import dump, parse

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.just([]), st.text(max_size=30),
    st.from_regex(r"[0-9a-f]{1,32}", fullmatch=True), st.from_regex(r"0b[01]{1,4}[a-f]?", fullmatch=True),
    st.sampled_from(["yes", "No", "on", "null", "~", "2020-01-01", "1:20", "0x1f", "file:///a b", "a#b"]),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True), VALUES, max_size=14))
@example({"run_name": "yes", "end_time": None, "tags": [], "status": 3, "artifact_uri": "file:///x/y"})
def test_agrees_with_pyyaml_or_leaves_it_to_pyyaml(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, default_flow_style=False, sort_keys=True)
    flat = parse(text)
    if flat is not None:
        assert flat == yaml.safe_load(text)


LINES = st.lists(
    st.tuples(
        st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True),
        st.text(alphabet="ab1:-' \t\xa0#/", max_size=8),
    ),
    max_size=4,
).map(lambda pairs: "".join(f"{key}:{value}\n" for key, value in pairs))


@settings(max_examples=400, deadline=None)
@given(LINES)
@example("k: a:\n")  # a trailing colon: an error to PyYAML
@example("k: 1\t\n")  # a tab: an error to PyYAML
@example("k: a\tb\n")
@example("k: \xa0\n")  # a no-break space is a string to PyYAML, not blank
@example("k: 'a'\xa0\n")
def test_any_text_it_reads_pyyaml_reads_the_same(text: str) -> None:
    flat = parse(text)
    if flat is not None:
        assert flat == yaml.safe_load(text)


def test_mlflows_meta_yaml_is_read_flat_and_odd_forms_are_left_to_pyyaml() -> None:
    meta = "artifact_uri: file:///m/0/ab/artifacts\nend_time: null\nexperiment_id: '0'\n"
    meta += "lifecycle_stage: active\n"
    assert parse(meta + "run_name: it''s\ntags: []\nstart_time: 17\nuser_id: ''\n") is None  # a bare quote
    assert parse(meta + "run_name: 'it''s'\ntags: []\nstart_time: 17\nuser_id: ''\n") == {
        "artifact_uri": "file:///m/0/ab/artifacts", "end_time": None, "experiment_id": "0",
        "lifecycle_stage": "active", "run_name": "it's", "tags": [], "start_time": 17, "user_id": "",
    }  # fmt: skip
    for odd in ("tags:\n- a\n", "name: yes\n", "x: 1.5\n", 'x: "a"\n', "---\nx: 1\n", "", "x: 1\nx: 2\n"):
        assert parse(odd) is None


YAML_WORDS = ("yes", "no", "true", "false", "on", "off", "null")  # read as bools or null, not keys


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=14), VALUES, max_size=14))
@example({"name": "it's", "tags": [], "end_time": None, "x": "yes", "y": "0", "z": " a: b # c"})
@example({"yes": 1})
def test_what_it_writes_pyyaml_reads_back_and_so_does_it(data: dict[str, Any]) -> None:
    text = dump(data)
    if text is None:  # a float, or a key or value with no certain flat form: PyYAML writes it
        assert any(
            isinstance(v, float) or (isinstance(v, str) and not v.isprintable()) for v in data.values()
        ) or any(not k.isidentifier() or not k.isascii() or k.lower() in YAML_WORDS for k in data)
        return
    assert yaml.safe_load(text) == (data or None)
    assert parse(text) in (data or None, None)


def test_a_run_s_meta_yaml_is_written_flat() -> None:
    meta = {"run_id": "ab12", "status": 1, "end_time": None, "tags": [], "run_name": "it's", "user_id": ""}
    text = dump(meta)
    assert text == ("end_time: null\nrun_id: 'ab12'\nrun_name: 'it''s'\nstatus: 1\ntags: []\nuser_id: ''\n")
    assert parse(text) == meta == yaml.safe_load(text)
    assert dump({"x": 1.5}) is None and dump({"x": {"a": 1}}) is None and dump({"x": "a\nb"}) is None
