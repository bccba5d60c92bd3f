"""Server-rendered SVG bar charts: the page needs no script and no outside asset to show them."""

from dataclasses import dataclass

BAR_HEIGHT = 22
BAR_GAP = 8
LABEL_WIDTH = 120
PLOT_WIDTH = 220


@dataclass
class Bar:
    label: str
    value: int
    y: int
    width: int
    css_class: str


def bar_chart(rows, css_classes=None):
    """Lay out horizontal bars for (label, value) rows, scaled to the largest value; return the template context."""
    css_classes = css_classes or {}
    largest = max((value for _label, value in rows), default=0) or 1
    bars = []
    for index, (label, value) in enumerate(rows):
        width = round(PLOT_WIDTH * value / largest)
        bars.append(Bar(str(label), value, index * (BAR_HEIGHT + BAR_GAP), width, css_classes.get(label, "")))
    return {
        "bars": bars,
        "height": max(len(bars), 1) * (BAR_HEIGHT + BAR_GAP),
        "width": LABEL_WIDTH + PLOT_WIDTH + 50,
        "label_width": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
    }
