"""Draw the multimodal tabs' example images (assets/mm-*.png) with PIL: `python scripts/make_multimodal_assets.py`.

Simple flat drawings, made for this project, so they can ship anywhere. Deterministic: running it
again gives the same pixels.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SIZE = 320


def vertical_gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(1, height - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    return image


def stop_sign() -> Image.Image:
    """A red octagonal STOP sign on a pole against a blue sky."""
    image = vertical_gradient((SIZE, SIZE), (120, 180, 235), (200, 225, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle([152, 200, 168, SIZE], fill=(120, 120, 120))
    centre, radius = (160, 130), 100
    points = [
        (
            centre[0] + radius * math.cos(math.radians(22.5 + 45 * k)),
            centre[1] + radius * math.sin(math.radians(22.5 + 45 * k)),
        )
        for k in range(8)
    ]
    draw.polygon(points, fill=(255, 255, 255))
    inner = [(centre[0] + (x - centre[0]) * 0.9, centre[1] + (y - centre[1]) * 0.9) for x, y in points]
    draw.polygon(inner, fill=(200, 20, 30))
    font = ImageFont.load_default(size=52)
    draw.text(centre, "STOP", fill=(255, 255, 255), font=font, anchor="mm")
    return image


def sunset() -> Image.Image:
    """An orange sun setting over a dark blue sea under a purple-orange sky."""
    image = vertical_gradient((SIZE, SIZE), (70, 40, 120), (250, 150, 60))
    draw = ImageDraw.Draw(image)
    draw.ellipse([100, 140, 220, 260], fill=(255, 200, 60))
    sea = vertical_gradient((SIZE, SIZE - 200), (30, 50, 110), (10, 20, 60))
    image.paste(sea, (0, 200))
    for y in range(210, SIZE, 14):  # the sun's reflection on the waves
        half = max(4, 60 - (y - 200) // 3)
        draw.line([(160 - half, y), (160 + half, y)], fill=(255, 190, 90), width=3)
    return image


def house() -> Image.Image:
    """A house with a red roof, a blue door and two windows, a tree, grass and the sun."""
    image = vertical_gradient((SIZE, SIZE), (110, 170, 240), (190, 220, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 250, SIZE, SIZE], fill=(70, 160, 60))
    draw.ellipse([250, 20, 300, 70], fill=(255, 220, 50))
    draw.rectangle([60, 150, 200, 260], fill=(235, 220, 180))
    draw.polygon([(45, 150), (130, 85), (215, 150)], fill=(180, 40, 40))
    draw.rectangle([115, 200, 145, 260], fill=(40, 70, 180))
    for x in (75, 160):
        draw.rectangle([x, 170, x + 28, 195], fill=(170, 210, 240), outline=(90, 60, 40), width=3)
    draw.rectangle([250, 180, 266, 260], fill=(110, 70, 30))
    draw.ellipse([220, 110, 296, 200], fill=(40, 130, 40))
    return image


def night_sky() -> Image.Image:
    """A crescent moon and stars in a dark night sky over black hills."""
    image = vertical_gradient((SIZE, SIZE), (5, 10, 40), (25, 35, 80))
    draw = ImageDraw.Draw(image)
    stars = [(23, 41), (71, 102), (132, 28), (190, 77), (262, 131), (40, 168), (298, 34), (160, 150), (95, 210)]
    for x, y in stars:
        draw.polygon(
            [
                (x, y - 5),
                (x + 2, y - 2),
                (x + 5, y),
                (x + 2, y + 2),
                (x, y + 5),
                (x - 2, y + 2),
                (x - 5, y),
                (x - 2, y - 2),
            ],
            fill=(255, 250, 210),
        )
    draw.ellipse([200, 40, 280, 120], fill=(250, 240, 190))
    draw.ellipse([222, 30, 302, 110], fill=(10, 18, 52))  # bites the crescent out of the full moon
    draw.polygon([(0, SIZE), (0, 260), (90, 225), (170, 265), (250, 235), (SIZE, 255), (SIZE, SIZE)], fill=(5, 5, 10))
    return image


def apple() -> Image.Image:
    """A red apple with a brown stem and a green leaf on a white table."""
    image = Image.new("RGB", (SIZE, SIZE), (250, 248, 240))
    draw = ImageDraw.Draw(image)
    draw.ellipse([70, 250, 250, 290], fill=(220, 215, 205))  # shadow
    draw.ellipse([70, 95, 190, 270], fill=(200, 25, 35))
    draw.ellipse([130, 95, 250, 270], fill=(200, 25, 35))
    draw.ellipse([95, 130, 125, 180], fill=(235, 110, 110))  # highlight
    draw.line([(160, 110), (170, 50)], fill=(100, 60, 20), width=8)
    draw.ellipse([170, 45, 230, 75], fill=(60, 160, 50))
    return image


IMAGES = {
    "mm-stop-sign.png": stop_sign,
    "mm-sunset.png": sunset,
    "mm-house.png": house,
    "mm-night-sky.png": night_sky,
    "mm-apple.png": apple,
}


def main() -> None:
    for name, draw in IMAGES.items():
        draw().save(ASSETS / name, optimize=True)
        print(ASSETS / name)


if __name__ == "__main__":
    main()
