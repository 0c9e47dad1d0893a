"""Make the vision tabs' example images (assets/vision-*): `python scripts/make_vision_assets.py [SKIMAGE_DATA]`.

Two drawings made with PIL for this project (deterministic: the same pixels every run), and two
CC0 photographs that scikit-image distributes in its wheel (`skimage/data/`), re-encoded as small
JPEGs. SKIMAGE_DATA is that folder, e.g. from `pip download --no-deps scikit-image` unzipped;
without it only the drawings are made.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

ASSETS = Path(__file__).resolve().parent.parent / "assets"

# scikit-image's sample photographs, both "No copyright restrictions. CC0 by the photographer".
PHOTOS = {"chelsea.png": "vision-cat.jpg", "coffee.png": "vision-coffee.jpg"}


def shapes() -> Image.Image:
    """A few flat shapes on a light table: an easy first image to click on for segmentation."""
    image = Image.new("RGB", (480, 320), (236, 232, 222))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 250, 480, 320], fill=(200, 190, 170))  # table edge
    draw.ellipse([60, 255, 170, 275], fill=(170, 160, 140))  # the ball's shadow
    draw.ellipse([40, 120, 180, 260], fill=(220, 60, 50), outline=(120, 30, 25), width=3)  # red ball
    draw.rectangle([210, 90, 320, 250], fill=(60, 110, 200), outline=(30, 55, 100), width=3)  # blue box
    draw.polygon([(340, 250), (400, 110), (460, 250)], fill=(245, 190, 40), outline=(140, 100, 10))  # cone
    return image


def street() -> Image.Image:
    """A road running to the horizon between rows of houses: strong depth cues for depth estimation."""
    width, height = 480, 320
    image = Image.new("RGB", (width, height), (150, 195, 235))
    draw = ImageDraw.Draw(image)
    horizon, vanish = 130, width // 2
    draw.rectangle([0, horizon, width, height], fill=(110, 150, 90))  # grass
    draw.polygon([(vanish - 6, horizon), (vanish + 6, horizon), (width - 60, height), (60, height)], fill=(80, 80, 85))
    for step in range(8):  # centre line dashes, shorter and thinner towards the horizon
        near = 1.0 - step / 8
        y0 = horizon + (height - horizon) * (near - 0.06) ** 2
        y1 = horizon + (height - horizon) * near**2
        draw.line([(vanish, y0), (vanish, y1)], fill=(240, 240, 230), width=max(1, round(6 * near)))
    for side in (-1, 1):  # houses shrinking with distance
        for k in reversed(range(5)):  # far ones first, so nearer houses cover them
            scale = 0.85**k
            base = horizon + (height - horizon) * (0.75 * 0.8**k)
            house_w, house_h = 90 * scale, 70 * scale
            x_mid = vanish + side * (vanish - 35) * (0.8**k) * 0.95
            x0, x1 = x_mid - house_w / 2, x_mid + house_w / 2
            colour = ((200, 120, 90), (230, 210, 160), (170, 170, 200), (210, 160, 120), (190, 200, 170))[k]
            draw.rectangle([x0, base - house_h, x1, base], fill=colour, outline=(60, 50, 40))
            draw.polygon([(x0 - 4 * scale, base - house_h), (x_mid, base - house_h - 35 * scale),
                          (x1 + 4 * scale, base - house_h)], fill=(150, 50, 40))  # fmt: skip
            door_w = 16 * scale
            draw.rectangle([x_mid - door_w / 2, base - 30 * scale, x_mid + door_w / 2, base], fill=(90, 60, 40))
    draw.ellipse([390, 25, 440, 75], fill=(255, 225, 90))  # sun
    return image


def main(skimage_data: Path | None) -> None:
    ASSETS.mkdir(exist_ok=True)
    shapes().save(ASSETS / "vision-shapes.png", optimize=True)
    street().save(ASSETS / "vision-street.png", optimize=True)
    if skimage_data is None:
        return
    for source, target in PHOTOS.items():
        Image.open(skimage_data / source).convert("RGB").save(ASSETS / target, quality=85, optimize=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
