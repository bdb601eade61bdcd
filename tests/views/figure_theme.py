"""Does a Plotly figure follow the page's theme? Shared by the figure tests (tests/views/) and the
page tests (tests/pages/): :func:`theme_problems` lists what would stay white on the dark theme
or vanish on one of the two themes."""

from __future__ import annotations

import json
import re

import plotly.io as pio

WHITE = (255, 255, 255)
#: Streamlit 1.67's dark background as Chromium paints it (bench/look.py: rgb(23, 22, 20)).
DARK = (23, 22, 20)
_NAMED = {"white": WHITE, "black": (0, 0, 0), "gray": (128, 128, 128), "grey": (128, 128, 128)}


def parse_colour(text: str) -> tuple[tuple[int, int, int], float] | None:
    """``(rgb, alpha)`` of '#rgb', '#rrggbb', 'rgb(...)', 'rgba(...)' or a few names; else None."""
    s = text.strip().lower()
    if s in _NAMED:
        return _NAMED[s], 1.0
    m = re.fullmatch(r"#([0-9a-f]{3}|[0-9a-f]{6})", s)
    if m:
        h = m.group(1)
        h = "".join(c * 2 for c in h) if len(h) == 3 else h
        return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4)), 1.0
    m = re.fullmatch(r"rgba?\(([^)]*)\)", s)
    if m:
        parts = [float(p) for p in m.group(1).split(",")]
        return tuple(int(round(p)) for p in parts[:3]), (parts[3] if len(parts) > 3 else 1.0)
    return None


def luminance(rgb) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""
    def lin(c):
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    """WCAG contrast ratio of two sRGB colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _colours(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "template":
                continue
            if "color" in k.lower() and isinstance(v, (str, list)):
                for c in (v if isinstance(v, list) else [v]):
                    if isinstance(c, str):
                        yield f"{path}.{k}", c
            else:
                yield from _colours(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _colours(v, f"{path}[{i}]")


def theme_problems(fig) -> list[str]:
    """What in ``fig`` (a Figure, its dict or its JSON) does not follow the page's theme.

    * a template other than the process default (Streamlit's in the app, Plotly's in tests);
    * a paper or plot background, or a global font colour, of its own;
    * an opaque grey (black, white or between) with a WCAG contrast under 3 (the non-text
      contrast of WCAG 2.1, 1.4.11) on white or on the dark background: it vanishes on one.
    Coloured hues (the Okabe-Ito groups) are not judged here.
    """
    spec = json.loads(fig) if isinstance(fig, str) else fig if isinstance(fig, dict) else fig.to_plotly_json()
    layout = spec.get("layout", {})
    out = []
    default = pio.templates[pio.templates.default].to_plotly_json() if pio.templates.default else {}
    tpl = layout.get("template")
    if tpl and json.loads(json.dumps(tpl)) != json.loads(json.dumps(default)):
        out.append("a template of its own")
    for key in ("paper_bgcolor", "plot_bgcolor"):
        if layout.get(key) is not None:
            out.append(f"layout.{key} = {layout[key]}")
    if (layout.get("font") or {}).get("color") is not None:
        out.append(f"layout.font.color = {layout['font']['color']}")
    for where, c in _colours({"data": spec.get("data", []), "layout": layout}):
        parsed = parse_colour(c)
        if parsed is None:
            continue
        rgb, alpha = parsed
        if alpha < 0.99 or max(rgb) - min(rgb) > 16:
            continue
        worst = min(contrast(rgb, WHITE), contrast(rgb, DARK))
        if worst < 3:
            out.append(f"{where} = {c} (contrast {worst:.1f} on one theme)")
    return out
