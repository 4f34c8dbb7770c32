"""Trace list rows carry a short input preview, computed when the trace is written."""

from __future__ import annotations

import orjson
import pytest

from heron.model import ObservationRecord, TraceUpdate
from heron.model.preview import preview
from heron.store import EmbeddedStore, ListQuery


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("  How do I\n reset   my password? ", "How do I reset my password?"),
        ('[{"role":"system","content":"Be kind."},{"role":"user","content":"Hi there"}]',
         "Hi there"),
        ('[{"role":"user","parts":[{"type":"text","content":"GenAI shape"}]}]', "GenAI shape"),
        ('{"args": ["Where is my order A-17?"], "kwargs": {}}', "Where is my order A-17?"),
        ('{"unrelated": 1}', '{"unrelated": 1}'),
        ("x" * 500, "x" * 199 + "…"),
    ],
)  # fmt: skip
def test_preview(text: str | None, expected: str | None) -> None:
    assert preview(text) == expected


def test_list_rows_carry_the_preview_and_keep_it(store: EmbeddedStore) -> None:
    tid = "a" * 32
    messages = orjson.dumps([{"role": "user", "content": "Cancel my plan"}]).decode()
    root = ObservationRecord(project_id="p", id="r" * 16, trace_id=tid, parent_id=None,
                             type="span", name="chat", start_us=1_760_000_000_000_000)  # fmt: skip
    store.write_batch([root], [TraceUpdate(project_id="p", trace_id=tid, is_root=True,
                                           input=messages)])  # fmt: skip
    child = ObservationRecord(project_id="p", id="c" * 16, trace_id=tid, parent_id="r" * 16,
                              type="span", name="tool", start_us=1_760_000_000_100_000)  # fmt: skip
    store.write_batch([child], [TraceUpdate(project_id="p", trace_id=tid, user_id="u")])
    [row] = store.list_traces("p", ListQuery()).data
    assert row["input_preview"] == "Cancel my plan"
    assert "input" not in row
