"""Draw appconfig/tokensweeper.png, the 48x48 WHM menu icon: a key swept by a broom.

    python tools/make_icon.py [OUTPUT]

Development only (needs Pillow); the PNG is committed, so installs never run this.
Drawn at 4x and scaled down for smooth edges; the same picture as the page's
logo.svg.
"""

import os
import sys

from PIL import Image, ImageDraw

SCALE = 4
SIZE = 48
BLUE = (23, 155, 215, 255)
ORANGE = (255, 108, 44, 255)
WHITE = (255, 255, 255, 255)


def s(*values):
    return [v * SCALE for v in values]


def draw():
    image = Image.new("RGBA", (SIZE * SCALE, SIZE * SCALE), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.rounded_rectangle(s(1, 1, 47, 47), radius=9 * SCALE, fill=BLUE)
    # The key: a ring, a shaft and one bit.
    width = int(3.2 * SCALE)
    pen.ellipse(s(8, 8, 22, 22), outline=WHITE, width=width)
    pen.ellipse(s(12.6, 12.6, 17.4, 17.4), fill=WHITE)
    pen.line(s(20, 20, 31, 31), fill=WHITE, width=width)
    pen.line(s(25, 25, 28, 22), fill=WHITE, width=width)
    for x, y in ((20, 20), (31, 31), (28, 22)):
        pen.ellipse(s(x - 1.6, y - 1.6, x + 1.6, y + 1.6), fill=WHITE)
    # The broom head sweeping it away.
    head = s(29, 33, 37, 25, 43, 31, 38, 42, 33, 42.5, 29, 38)
    pen.polygon(list(zip(head[::2], head[1::2])), fill=ORANGE, outline=WHITE)
    pen.line(s(33, 36, 40, 33), fill=WHITE, width=int(1.4 * SCALE))
    pen.line(s(31.5, 38.5, 39, 37), fill=WHITE, width=int(1.4 * SCALE))
    return image.resize((SIZE, SIZE), Image.LANCZOS)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    output = argv[0] if argv else os.path.join(here, "appconfig", "tokensweeper.png")
    draw().save(output, optimize=True)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
