"""The error hierarchy (dualbranch.errors): the old import locations are the same classes, and each
error is also the built-in exception callers catch."""

from __future__ import annotations

import errno

import pytest
import torch

from dualbranch import checkpoint, errors, optional, safe_io
from dualbranch.data.images import ImageData, ImageDataError


def test_old_import_locations_are_the_hierarchy_classes():
    assert checkpoint.CheckpointError is errors.CheckpointError
    assert checkpoint.CheckpointMismatchError is errors.CheckpointMismatchError
    assert optional.MissingDependencyError is errors.MissingDependencyError
    assert safe_io.WriteError is errors.WriteError
    assert issubclass(ImageDataError, errors.DataError)


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (errors.ConfigError, ValueError),
        (errors.DataError, ValueError),
        (ImageDataError, ValueError),
        (errors.UnknownModelError, KeyError),
        (errors.MissingFileError, FileNotFoundError),
        (errors.CheckpointError, ValueError),
        (errors.CheckpointMismatchError, errors.CheckpointError),
        (errors.MissingDependencyError, ImportError),
        (errors.WriteError, OSError),
    ],
)
def test_each_error_is_a_dualbranch_error_and_its_builtin(error, builtin):
    assert issubclass(error, errors.DualbranchError) and issubclass(error, builtin)


def test_write_error_keeps_its_errno_and_message():
    err = errors.WriteError(errno.ENOSPC, "Could not write w.safetensors: the disk is full")
    assert err.errno == errno.ENOSPC and str(err) == "[Errno 28] Could not write w.safetensors: the disk is full"


def test_bad_images_raise_image_data_error():
    with pytest.raises(ImageDataError, match="uint8"):
        ImageData(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), ("a",))
