"""Property-based fuzzing of the input boundaries: the config parser and the array / series loaders.

Whatever they are given, they either succeed with a valid result or raise their own clear error
(ConfigError, ImageDataError, ValueError), never another exception from deep inside.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dualbranch.data.images import ImageData, ImageDataError
from dualbranch.data.images import load_npz as load_image_npz
from dualbranch.data.series import load_npz as load_series_npz
from dualbranch.data.series import stack_series
from dualbranch.data.signal import SignalData
from dualbranch.train.config import ConfigError, RunConfig, dump_config, load_config

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# the sections (RunConfig also records which keys were set: `explicit`); data and augment are the kind's
# subclasses of their bound (DataSection, AugmentSection), whose keys every kind has
HINTS = typing.get_type_hints(RunConfig)
SECTIONS = {
    f.name: getattr(HINTS[f.name], "__bound__", None) or HINTS[f.name] for f in dataclasses.fields(RunConfig) if f.init
}
KEYS = [
    f"{section}.{field.name}"
    for section, section_type in SECTIONS.items()
    for field in dataclasses.fields(section_type)
]
plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _load_text(tmp_path: Path, text: str) -> RunConfig | None:
    """The config of a YAML text, or None where it is refused with a ConfigError that names the file."""
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        config = load_config(path)
    except ConfigError as err:
        assert str(path) in str(err) and "\n" not in str(err), str(err)  # one line, and where the problem is
        return None
    assert isinstance(config, RunConfig)
    return config


@FUZZ
@given(key=st.sampled_from(KEYS) | st.text(max_size=12), value=st.text(max_size=20))
def test_overrides_give_a_config_or_a_config_error(key, value):
    try:
        config = load_config(None, [f"{key}={value}"])
    except ConfigError as err:
        assert str(err).startswith("command line")
    else:
        assert isinstance(config, RunConfig)


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("abcdeiloprtz_.:-[]{}!&*#|>'\"\n 0123456789")), max_size=60))
def test_yaml_text_gives_a_config_or_a_config_error(tmp_path, text):
    _load_text(tmp_path, text)


@FUZZ
@given(
    values=st.dictionaries(
        st.sampled_from([*SECTIONS, "optimizer"]),
        st.dictionaries(st.sampled_from([k.split(".")[1] for k in KEYS] + ["lrr"]), plain, max_size=4) | plain,
        max_size=4,
    )
)
def test_yaml_documents_give_a_config_or_a_config_error(tmp_path, values):
    _load_text(tmp_path, yaml.safe_dump(values))


def _value_for(annotation: typing.Any) -> st.SearchStrategy:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return st.one_of(*[_value_for(a) for a in typing.get_args(annotation)])
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(annotation))
    if origin is tuple:
        return st.tuples(*[_value_for(a) for a in typing.get_args(annotation)]).map(list)
    if origin is dict:
        return st.dictionaries(st.text(min_size=1, max_size=6), plain, max_size=3)
    if origin is list:
        return st.lists(_value_for(typing.get_args(annotation)[0]), max_size=3)
    return {
        type(None): st.none(),
        bool: st.booleans(),
        int: st.integers(0, 10**6),
        float: st.floats(0, 1, allow_nan=False),
        str: st.text(max_size=10),
    }[annotation]


@st.composite
def valid_looking_configs(draw: st.DrawFn) -> dict:
    values: dict = {}
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=8, unique=True)):
        section, name = key.split(".")
        annotation = typing.get_type_hints(SECTIONS[section])[name]
        values.setdefault(section, {})[name] = draw(_value_for(annotation))
    return values


@FUZZ
@given(values=valid_looking_configs())
def test_a_loaded_config_survives_dump_and_load(tmp_path, values):
    config = _load_text(tmp_path, yaml.safe_dump(values))
    assume(config is not None)  # out-of-range values are refused, which is the other tests' business
    assert _load_text(tmp_path, dump_config(config)) == config


# ------------------------------------------------------------------------ arrays and series
dtypes = st.sampled_from([np.uint8, np.int16, np.int64, np.float32, np.float64, np.bool_, np.complex64])
small_arrays = hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4))


@FUZZ
@given(x=small_arrays, y=small_arrays)
def test_image_npz_gives_valid_images_or_an_image_data_error(tmp_path, x, y):
    path = tmp_path / "fuzz.npz"
    np.savez(path, x=x, y=y)
    try:
        data = load_image_npz(path)
    except ImageDataError as err:
        assert str(path) in str(err)
        return
    assert isinstance(data, ImageData) and data.images.dtype.is_floating_point is False
    assert data.images.ndim == 4 and len(data) == len(y) > 0
    assert int(data.labels.min()) >= 0 and int(data.labels.max()) < len(data.class_names)


@FUZZ
@given(x=small_arrays, y=small_arrays, with_names=st.booleans())
def test_series_npz_gives_valid_signals_or_a_value_error(tmp_path, x, y, with_names):
    path = tmp_path / "fuzz.npz"
    extra = {"class_names": np.array(["a", "b"])} if with_names else {}
    np.savez(path, x=x, y=y, **extra)
    try:
        data = load_series_npz(path)
    except ValueError as err:
        assert str(path) in str(err)  # every refusal names the file
        return
    _assert_valid_signals(data)


def _assert_valid_signals(data: SignalData) -> None:
    assert data.x.dtype == np.float32 and data.x.ndim == 3 and np.isfinite(data.x).all()
    assert data.y.shape == (data.x.shape[0],) and data.y.dtype == np.int64
    assert data.y.size == 0 or 0 <= data.y.min() <= data.y.max() < len(data.class_names)


@FUZZ
@given(
    x=small_arrays,
    y=small_arrays,
    class_names=st.lists(st.text(max_size=3), max_size=4),
    sfreq=st.none() | st.floats(),
)
def test_signal_data_is_valid_or_refused(x, y, class_names, sfreq):
    try:
        data = SignalData(x=x, y=y, class_names=tuple(class_names), sfreq=sfreq)
    except ValueError:
        return
    _assert_valid_signals(data)


@FUZZ
@given(
    lengths=st.lists(st.integers(1, 12), min_size=1, max_size=5),
    channels=st.integers(1, 3),
    policy=st.sampled_from(["pad", "resample", "error", "crop"]),
    length=st.none() | st.integers(0, 15),
)
def test_variable_length_series_follow_the_policy_or_are_refused(lengths, channels, policy, length):
    series = [np.random.default_rng(n).standard_normal((channels, n)) for n in lengths]
    try:
        x, mask = stack_series(series, policy, length)  # type: ignore[arg-type]
    except ValueError:
        assert policy != "pad" or (length is not None and length < max(lengths))
        return
    target = length if length is not None else max(lengths)
    assert x.shape == (len(lengths), channels, target)
    if mask is not None:
        assert mask.sum(axis=1).tolist() == lengths  # padding is marked, never counted as signal
        for row, n in zip(x, lengths):
            assert not row[:, n:].any()
    elif policy == "pad":
        assert set(lengths) == {target}


@pytest.mark.parametrize("dtype", [np.complex64, np.bool_, np.str_])
def test_non_real_signals_are_refused_not_cast(dtype):
    with pytest.raises(ValueError, match="x must hold real numbers"):
        SignalData(x=np.ones((2, 1, 4), dtype=dtype), y=np.array([0, 1]), class_names=("a", "b"))
