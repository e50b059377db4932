"""Real images for the deployment tests: Fashion-MNIST test images, normalised as a run would."""

from __future__ import annotations

import pytest
import torch

from dualbranch.data.images import FASHION_MNIST_DIR, load_fashion_mnist

HAS_FMNIST = (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file()


def real_images(n: int) -> torch.Tensor:
    """The first n Fashion-MNIST test images, normalised as a run would: (n, 1, 28, 28); skips the
    calling test where the Debian package dataset-fashion-mnist is not installed."""
    if not HAS_FMNIST:
        pytest.skip("Fashion-MNIST is not installed")
    return (load_fashion_mnist("test").images[:n].float() / 255 - 0.286) / 0.353
