"""Docs that are generated from code stay in step with it."""

from __future__ import annotations

from pathlib import Path

from heron.settings import SETTINGS, Settings, markdown_table

ROOT = Path(__file__).resolve().parent.parent


def test_configuration_doc_lists_every_setting() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert markdown_table() in text


def test_settings_table_matches_settings_fields() -> None:
    assert [s.name for s in SETTINGS] == [
        f for f in Settings.__dataclass_fields__ if f in {s.name for s in SETTINGS}
    ]
    defaults = Settings.load(env={})
    for s in SETTINGS:
        value = getattr(defaults, s.name)
        if s.name == "data_dir":
            assert value == Path(s.default).expanduser()
        else:
            assert value == s.default or s.default == "auto", s.name


def test_environment_and_overrides() -> None:
    s = Settings.load(env={"HERON_PORT": "9999", "HERON_HOST": "0.0.0.0"}, host="127.0.0.2")
    assert (s.port, s.host) == (9999, "127.0.0.2")


def test_readme_set_up_is_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_metrics_doc_lists_every_dimension_measure_and_aggregation() -> None:
    from heron.query.metrics import AGGREGATIONS, VIEWS

    text = (ROOT / "docs" / "metrics.md").read_text()
    for view in VIEWS.values():
        rows = [
            line
            for line in text.splitlines()
            if line.startswith("| ") and view.name in line.split("|")[1].strip().split(", ")
        ]
        assert len(rows) == 2, view.name  # its dimensions, then its measures
        for name in view.dimensions:
            assert f"`{name}`" in rows[0], (view.name, name)
        for name in view.measures:
            assert f"`{name}`" in rows[1], (view.name, name)
    for agg in AGGREGATIONS:
        assert f"`{agg}`" in text, agg
