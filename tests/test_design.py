"""The design tokens of heron.css: every stylesheet uses them (no raw colour outside the
token blocks, so the dark theme reaches every page), and text keeps a WCAG AA contrast
(4.5:1) on both backgrounds in the light and the dark theme."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[1] / "src" / "heron" / "server" / "web" / "static"
COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|\brgba?\(|\bhsla?\(")
TOKEN = re.compile(r"(--[\w-]+):\s*(#[0-9a-fA-F]{3,6})\b")


def token_blocks() -> tuple[dict[str, str], dict[str, str], str]:
    """(light tokens, dark tokens, the stylesheet without its token blocks)."""
    css = (STATIC / "heron.css").read_text()
    light = re.search(r":root\s*\{(.*?)\n\}", css, re.S)
    dark = re.search(
        r"@media \(prefers-color-scheme: dark\)\s*\{\s*:root\s*\{(.*?)\}\s*\}", css, re.S
    )
    assert light and dark, "heron.css lost its :root or its dark-theme token block"
    rest = css.replace(light.group(0), "").replace(dark.group(0), "")
    return dict(TOKEN.findall(light.group(1))), dict(TOKEN.findall(dark.group(1))), rest


def luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_dark_theme_redefines_every_colour_token_that_text_or_surfaces_use() -> None:
    light, dark, _ = token_blocks()
    for name in ("--ink", "--muted", "--line", "--paper", "--surface", "--accent",
                 "--accent-soft", "--error", "--good", "--bad", "--warn"):  # fmt: skip
        assert name in light and name in dark, name
        assert light[name] != dark[name], name


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_text_contrast_is_at_least_aa(theme: str) -> None:
    light, dark, _ = token_blocks()
    tokens = light if theme == "light" else dark
    for fg in ("--ink", "--muted", "--accent", "--error", "--warn", "--good"):
        for bg in ("--surface", "--paper"):
            ratio = contrast(tokens[fg], tokens[bg])
            assert ratio >= 4.5, f"{theme}: {fg} on {bg} is {ratio:.2f}:1"
    assert contrast(tokens["--accent-ink"], tokens["--accent"]) >= 4.5  # button text


def test_stylesheets_use_tokens_not_raw_colours() -> None:
    _, _, rest = token_blocks()
    sheets = {"heron.css": rest} | {
        p.name: p.read_text() for p in STATIC.glob("*.css") if p.name != "heron.css"
    }
    for name, css in sheets.items():
        raw = [line.strip() for line in css.splitlines() if COLOUR.search(line)]
        assert not raw, f"{name} has raw colours (use a token): {raw}"
