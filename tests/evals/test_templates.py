"""The managed judge templates: documented variables, outputs, prompts that reason first."""

from __future__ import annotations

import asyncio
import re

import pytest

from heron.evals.judge import Connection, Judge, json_schema, placeholders, render
from heron.evals.templates import TEMPLATES, VARIABLES, Template, markdown
from tests.evals.fake_openai import FakeProvider, fake_provider

__all__ = ["fake_provider"]

EXPECTED = {
    "helpfulness",
    "correctness",
    "groundedness",
    "relevance",
    "toxicity",
    "conciseness",
    "refusal",
    "user_disagreement",
    "user_frustration",
}


def test_the_managed_set() -> None:
    assert set(TEMPLATES) == EXPECTED
    assert all(name == t.name for name, t in TEMPLATES.items())
    sessions = {n for n, t in TEMPLATES.items() if t.target == "sessions"}
    assert sessions == {"user_disagreement", "user_frustration"}
    assert "expected_output" in TEMPLATES["correctness"].variables
    assert "context" in TEMPLATES["groundedness"].variables


@pytest.mark.parametrize("template", TEMPLATES.values(), ids=list(TEMPLATES))
def test_placeholders_are_the_declared_variables(template: Template) -> None:
    assert sorted(placeholders(template.prompt)) == sorted(template.variables)
    for name, what in template.variables.items():
        assert what == VARIABLES[name] and ":" in what  # what it holds: where it comes from
    if template.target == "sessions":
        assert list(template.variables) == ["conversation"]
    else:
        assert "conversation" not in template.variables


@pytest.mark.parametrize("template", TEMPLATES.values(), ids=list(TEMPLATES))
def test_prompts_ask_for_reasoning_before_the_value(template: Template) -> None:
    text = template.prompt.lower()
    last = text.strip().split("\n\n")[-1]  # the closing instruction
    assert re.search(r"first|then|before|quote|explain|point out|name the", last), last
    spec = template.output
    if spec.data_type == "CATEGORICAL":
        for category in spec.categories:
            assert f'"{category}"' in template.prompt
    if spec.data_type == "BOOLEAN":
        assert "true" in text and "false" in text
    if spec.data_type == "NUMERIC":
        assert "- 1:" in template.prompt or "1 when" in template.prompt
    assert template.title and template.description
    rendered = render(template.prompt, {n: f"<{n} value>" for n in template.variables})
    assert "{{" not in rendered


def test_a_mismatch_is_refused() -> None:
    spec = TEMPLATES["toxicity"].output
    with pytest.raises(ValueError, match="placeholders"):
        Template("x", "X", "x", "{{output}} {{input}}", {"output": "o"}, spec)


def test_markdown_documents_every_template_and_variable() -> None:
    text = markdown()
    for t in TEMPLATES.values():
        assert f"`{t.name}`" in text and t.title in text
        for name, what in t.variables.items():
            assert f"- `{{{{{name}}}}}`: {what}" in text


def test_every_template_judges_against_the_fake(fake_provider: FakeProvider) -> None:
    async def go() -> list[object]:
        j = Judge(Connection("fake", fake_provider.base_url, "sk-x", "gpt-4o-mini"))
        out = []
        for t in TEMPLATES.values():
            prompt = render(t.prompt, {n: f"<{n}>" for n in t.variables})
            out.append((await j.judge(prompt, t.output)).value)
        await j.aclose()
        return out

    values = asyncio.run(go())
    assert len(values) == len(TEMPLATES)
    for t, request in zip(TEMPLATES.values(), fake_provider.requests, strict=True):
        schema = request.body["response_format"]["json_schema"]["schema"]
        assert schema == json_schema(t.output)
