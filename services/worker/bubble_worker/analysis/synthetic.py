"""Photo-like images made on the fly, for tests and the decode benchmark.

Real photos cannot be committed as fixtures (binary, licensing), and flat test patterns
mislead: they compress to nothing and decode unrealistically fast, and they have no texture
for focus and duplicate measures. These images have a photo's ingredients instead: smooth
lighting gradients, objects with edges, fine texture and sensor noise.
"""

from __future__ import annotations

import random

from PIL import Image, ImageChops, ImageDraw, ImageFilter

_NOISE_AMPLITUDE = 20
"""Sensor-like noise added to every channel, in grey levels either way."""


def photo_like(size: tuple[int, int], *, seed: int, noise: int = _NOISE_AMPLITUDE) -> Image.Image:
    """An "RGB" image of ``size`` with gradients, shapes, texture and ``noise`` (grey levels
    either way); same seed, same pixels. A phone's own denoising leaves about 4."""
    rng = random.Random(seed)
    width, height = size
    top = tuple(rng.randrange(40, 220) for _ in range(3))
    bottom = tuple(rng.randrange(40, 220) for _ in range(3))
    gradient = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
    image = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), gradient)
    draw = ImageDraw.Draw(image)
    scale = min(width, height)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(scale // 20 + 1, scale // 4 + 2)
        fill = tuple(rng.randrange(256) for _ in range(3))
        box = (x - radius, y - radius, x + radius, y + radius // 2)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=fill)
        else:
            draw.rectangle(box, fill=fill)
    for _ in range(40):
        points = [(rng.randrange(width), rng.randrange(height)) for _ in range(2)]
        fill = tuple(rng.randrange(256) for _ in range(3))
        draw.line(points, fill=fill, width=max(1, scale // 400))
    image = image.filter(ImageFilter.GaussianBlur(max(0.6, scale / 2000)))
    return _add_noise(image, rng, noise)


def checkerboard(size: tuple[int, int], *, square: int) -> Image.Image:
    """A black and white "RGB" checkerboard: the sharpest possible content."""
    tile = Image.new("L", (2 * square, 2 * square), 0)
    tile.paste(255, (0, 0, square, square))
    tile.paste(255, (square, square, 2 * square, 2 * square))
    board = Image.new("L", size)
    for x in range(0, size[0], 2 * square):
        for y in range(0, size[1], 2 * square):
            board.paste(tile, (x, y))
    return board.convert("RGB")


def _add_noise(image: Image.Image, rng: random.Random, amplitude: int) -> Image.Image:
    """``image`` plus uniform noise of +-``amplitude`` per channel, drawn from ``rng``
    (Pillow's own ``effect_noise`` cannot be seeded)."""
    lut = [128 + (value - 128) * amplitude // 128 for value in range(256)]
    noisy = [
        ImageChops.add(
            band,
            Image.frombytes("L", image.size, rng.randbytes(band.width * band.height)).point(lut),
            offset=-128,
        )
        for band in image.split()
    ]
    return Image.merge("RGB", noisy)
