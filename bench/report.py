"""BENCHMARKS.md (one row per measured figure) and a PNG chart of measured ratio against target."""

from __future__ import annotations

import math
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont


@dataclass
class Row:
    """One line of the table."""

    figure: str  # e.g. "2. API overhead"
    subject: str  # e.g. "/similarity · medium"
    target: str  # e.g. "≤ 1.10"
    limit: float | None  # the target as a number, for the chart
    higher_is_better: bool
    ratio: float | None
    values: str  # medians with min/max
    notes: str = ""
    judged: bool = True  # False: shown for information (e.g. KB-sized models whose compute is negligible)

    @property
    def met(self) -> bool | None:
        if not self.judged or self.ratio is None or self.limit is None or math.isnan(self.ratio):
            return None
        return self.ratio >= self.limit if self.higher_is_better else self.ratio <= self.limit

    @property
    def verdict(self) -> str:
        if not self.judged:
            return "not judged"
        return {True: "✅ met", False: "❌ missed", None: "—"}[self.met]

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "met": self.met}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(rows: list[Row], header: str, sections: dict[str, str], chart: str) -> str:
    """The whole BENCHMARKS.md: how it was run, the table, the chart, then notes per figure."""
    lines = [
        "# Benchmarks",
        "",
        header,
        "",
        "| Figure | Measured on | Target | Measured ratio | Result | Median (min–max) | Notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "—" if row.ratio is None or math.isnan(row.ratio) else f"{row.ratio:.2f}"
        lines.append(
            f"| {_cell(row.figure)} | {_cell(row.subject)} | {_cell(row.target)} | {ratio} | {row.verdict} | "
            f"{_cell(row.values)} | {_cell(row.notes)} |"
        )
    lines += ["", f"![Measured ratio against target, per figure]({chart})", ""]
    for title, text in sections.items():
        lines += [f"## {title}", "", text.strip(), ""]
    return "\n".join(lines)


def machine() -> str:
    import os

    import torch

    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs (torch uses {torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


# -- the chart ----------------------------------------------------------------------------------

WIDTH, ROW, LABEL, PAD = 1100, 26, 430, 16
GREEN, RED, GREY, INK = (34, 160, 90), (210, 60, 50), (150, 150, 150), (30, 30, 30)


def _font(size: int) -> ImageFont.ImageFont:
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def chart(rows: list[Row], path: Path) -> None:
    """Horizontal bars of each row's measured ratio on a log axis, its target as a black tick."""
    plotted = [row for row in rows if row.ratio is not None and not math.isnan(row.ratio) and row.ratio > 0]
    height = PAD * 3 + 40 + ROW * max(1, len(plotted))
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(13), _font(11)
    values = [row.ratio for row in plotted] + [row.limit for row in plotted if row.limit]
    low = 10 ** math.floor(math.log10(min([*values, 0.5])))
    high = 10 ** math.ceil(math.log10(max([*values, 2.0])))
    left, right, top = LABEL, WIDTH - PAD - 60, PAD + 30

    def x(value: float) -> float:
        return left + (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low)) * (right - left)

    draw.text(
        (PAD, PAD),
        "Measured ratio (bar) against target (black tick), log scale; green = met, red = missed, "
        "grey = not judged; ratios ≤ 0 (API within its fixed cost) are in the table only",
        font=font,
        fill=INK,
    )
    decade = low
    while decade <= high * 1.001:
        draw.line([(x(decade), top - 6), (x(decade), height - PAD)], fill=(225, 225, 225))
        draw.text((x(decade) - 8, top - 20), f"{decade:g}", font=small, fill=GREY)
        decade *= 10
    for index, row in enumerate(plotted):
        y = top + index * ROW
        label = f"{row.figure.split('.')[0]}. {row.subject}"
        draw.text((PAD, y + 4), label[:62], font=small, fill=INK)
        colour = {True: GREEN, False: RED, None: GREY}[row.met]
        draw.rectangle([left, y + 5, max(left + 1, x(row.ratio)), y + ROW - 5], fill=colour)
        draw.text((x(row.ratio) + 4, y + 5), f"{row.ratio:.2f}", font=small, fill=INK)
        if row.limit:
            draw.line([(x(row.limit), y + 1), (x(row.limit), y + ROW - 1)], fill=INK, width=3)
    image.save(path)
