"""The embedded offline domain pair: printed digits -> handwritten digits.

Source: digits rendered procedurally from the TrueType fonts that matplotlib
ships, with random affine transforms, stroke width, blur and noise; abundant
and deterministic from a seed. Target: scikit-learn's bundled handwritten
digits (1,797 real 8x8 images, 16 grey levels).
"""

import functools
import glob
import os

import numpy as np

from coprune_jax.data.domain import Domain
from coprune_jax.data.local_files import DIGIT_NAMES, split_test_only

# Text fonts only: matplotlib's math fonts (cmex, cmsy, STIX sized variants)
# hold symbols rather than digits.
_FONT_PATTERNS = ("DejaVuSans*.ttf", "DejaVuSerif*.ttf", "STIXGeneral*.ttf",
                  "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf")


def _draws_every_digit(font_path) -> bool:
  from PIL import Image, ImageDraw, ImageFont  # pylint: disable=g-import-not-at-top
  font = ImageFont.truetype(font_path, size=20)
  for digit in DIGIT_NAMES:
    image = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(image).text((16, 16), digit, fill=255, font=font,
                               anchor="mm")
    if not np.asarray(image).any():
      return False
  return True


@functools.lru_cache()
def font_paths() -> tuple[str, ...]:
  """matplotlib's bundled text fonts that draw all ten digits."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  font_dir = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
  paths = sorted({p for pattern in _FONT_PATTERNS
                  for p in glob.glob(os.path.join(font_dir, pattern))})
  paths = [p for p in paths if _draws_every_digit(p)]
  if not paths:
    raise FileNotFoundError(f"no TrueType fonts with digits in {font_dir}")
  return tuple(paths)


def _render_one(digit, font_path, rng, image_size):
  from PIL import Image, ImageDraw, ImageFilter, ImageFont  # pylint: disable=g-import-not-at-top
  canvas = 48
  font = ImageFont.truetype(font_path, size=int(rng.integers(36, 47)))
  image = Image.new("L", (canvas, canvas), 0)
  draw = ImageDraw.Draw(image)
  stroke = int(rng.integers(0, 3))
  draw.text((canvas / 2, canvas / 2), str(digit), fill=255, font=font,
            anchor="mm", stroke_width=stroke, stroke_fill=255)
  # Random affine map about the centre: rotation, scale, shear, translation.
  angle = np.deg2rad(rng.uniform(-15, 15))
  scale = rng.uniform(0.85, 1.2)
  shear = rng.uniform(-0.3, 0.3)
  cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
  a, b = cos, sin + shear * cos
  d, e = -sin, cos - shear * sin
  shift = rng.uniform(-3, 3, size=2)
  centre = canvas / 2
  c = centre - a * centre - b * centre + shift[0]
  f = centre - d * centre - e * centre + shift[1]
  image = image.transform((canvas, canvas), Image.AFFINE, (a, b, c, d, e, f),
                          resample=Image.BILINEAR)
  image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.5)))
  image = image.resize((image_size, image_size), Image.BILINEAR)
  pixels = np.asarray(image, np.float32)
  pixels += rng.normal(0, rng.uniform(0, 20), size=pixels.shape)
  return np.clip(pixels, 0, 255).astype(np.uint8)


def render_printed_digits(num_examples: int, seed: int,
                          image_size: int = 28) -> tuple[np.ndarray, np.ndarray]:
  """Returns uint8 images (N, size, size, 1) and labels, balanced over digits."""
  rng = np.random.default_rng(seed)
  fonts = font_paths()
  labels = np.arange(num_examples) % 10
  rng.shuffle(labels)
  images = np.stack([
      _render_one(d, fonts[rng.integers(len(fonts))], rng, image_size)
      for d in labels])
  return images[..., None], labels.astype(np.int64)


def printed_digits_domain(num_train: int = 10000, num_test: int = 2000,
                          seed: int = 0, image_size: int = 28) -> Domain:
  x_train, y_train = render_printed_digits(num_train, seed, image_size)
  x_test, y_test = render_printed_digits(num_test, seed + 10**6, image_size)
  return Domain("printed_digits", x_train, y_train, x_test, y_test,
                DIGIT_NAMES)


def sklearn_digits_domain(test_fraction: float = 0.4,
                          split_seed: int = 0) -> Domain:
  """scikit-learn's handwritten digits as uint8 (N, 8, 8, 1) images."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()
  images = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]
  return split_test_only("sklearn_digits", images, digits.target.astype(np.int64),
                         DIGIT_NAMES, test_fraction, split_seed)
