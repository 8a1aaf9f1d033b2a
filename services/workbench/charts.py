"""Server-side SVG charts of the dashboard's figures, drawn by matplotlib (Agg canvas, no
pyplot state, nothing fetched at run time). Text stays text in the SVG (searchable, and
the chart carries its title and description for assistive technology); ids are salted
with a fixed value so the same figures give the same bytes (cacheable, testable)."""

from __future__ import annotations

import io
import threading
from functools import lru_cache

from services.workbench.figures import Figure, Series

_LOCK = threading.Lock()  # rc_context changes matplotlib's global rcParams: one render at a time
# a colour-blind-safe qualitative palette (Okabe-Ito), then greys for "other"
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
OTHER = "#9aa4ae"


def _colour(i: int, name: str) -> str:
    return OTHER if name == "other" else PALETTE[i % len(PALETTE)]


def svg(fig: Figure) -> bytes:
    """The figure as SVG bytes (cached by the figure's content)."""
    return _render(fig.kind, fig.title, fig.description, fig.x_label, fig.y_label, fig.categories,
                   tuple((s.name, tuple(float(v) for v in s.values)) for s in fig.series))


@lru_cache(maxsize=64)
def _render(kind: str, title: str, description: str, x_label: str, y_label: str, categories: tuple[str, ...],
            series: tuple[tuple[str, tuple[float, ...]], ...]) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure as MplFigure

    with _LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "claimflow-dashboard",
                                       "font.family": "sans-serif", "font.size": 9}):
        height = 3.2 if kind != "hbar" else max(2.2, 0.6 + 0.32 * max(1, len(categories)))
        fig = MplFigure(figsize=(6.4, height), dpi=100, layout="constrained")
        ax = fig.subplots()
        if not categories:
            ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes, color="#57606a")
            ax.set_xticks([])
            ax.set_yticks([])
        elif kind == "hbar":
            _hbar(ax, categories, series)
        else:
            _stacked(ax, categories, series)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        out = io.BytesIO()
        fig.savefig(out, format="svg", metadata={"Title": title, "Description": description, "Date": None,
                                                "Creator": "claimflow workbench (matplotlib)"})
        return out.getvalue()


def _stacked(ax, categories, series) -> None:
    x = range(len(categories))
    bottom = [0.0] * len(categories)
    for i, (name, values) in enumerate(series):
        ax.bar(x, values, bottom=bottom, label=name, color=_colour(i, name), width=0.7)
        bottom = [b + v for b, v in zip(bottom, values)]
    pad = max(0.0, (6 - len(categories)) / 2)  # a day or two of data: bars stay bar-wide, not page-wide
    ax.set_xlim(-0.6 - pad, len(categories) - 0.4 + pad)
    ax.set_xticks(list(x), list(categories), rotation=30 if len(categories) > 6 else 0,
                  ha="right" if len(categories) > 6 else "center")
    ax.yaxis.get_major_locator().set_params(integer=True)
    if len(series) > 1:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _hbar(ax, categories, series) -> None:
    (name, values), = series[:1] or (("", ()),)
    y = range(len(categories))
    ax.barh(list(y), values, color=PALETTE[0], height=0.6)
    ax.set_yticks(list(y), list(categories))
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    for yi, v in zip(y, values):
        ax.text(min(v + 1, 92), yi, f"{v:.0f}%", va="center", fontsize=8)


def series_total(series: tuple[Series, ...]) -> float:
    return sum(float(v) for s in series for v in s.values)
