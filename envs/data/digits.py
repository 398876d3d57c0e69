"""scikit-learn's bundled 8x8 handwritten digits: the offline default image data set.

1,797 grey 8x8 images (pixel values 0..16) of digits 0-9 from the UCI "Optical Recognition of
Handwritten Digits" set (Alpaydin & Kaynak, 1998), shipped inside scikit-learn, so nothing is
downloaded. Upscaled bilinearly per batch to `image_size` (default 16; 32 suits DCGAN).

    source = load_digits(image_size=32)
"""

from __future__ import annotations

import torch

from envs.data.base import ImageSource


def load_digits(image_size: int | None = 16) -> ImageSource:
    from sklearn.datasets import load_digits as sklearn_digits  # lazy: sklearn imports scipy (~1 s)

    digits = sklearn_digits()
    images = torch.from_numpy(digits.images).to(torch.uint8).unsqueeze(1)  # exact: values are 0..16
    labels = torch.from_numpy(digits.target)
    return ImageSource("digits", images, labels, image_size=image_size or 16, max_value=16.0,
                       num_classes=10)
