"""crsae/config.py: ModelConfig and TrainConfig check their values once, at construction, and round-trip as
plain data."""

import json

import pytest

from crsae.config import ModelConfig, TrainConfig
from crsae.errors import ConfigError


@pytest.mark.parametrize("kwargs,match", [(dict(num_layers=0), "num_layers"), (dict(L=0.0), "L must"),
                                          (dict(L=-1.0), "L must"), (dict(kind="2d", kernel_size=3, stride=4), "stride"),
                                          (dict(stride=2), "2-D"), (dict(threshold_mode="x"), "threshold_mode"),
                                          (dict(sigma=float("nan")), "sigma")])
def test_bad_config_is_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ModelConfig(**kwargs)


@pytest.mark.parametrize("kwargs,message", [
    (dict(kind="3d"), "kind must be one of 1d, 2d, got '3d'"),
    (dict(num_filters=True), "num_filters must be a positive integer, got True"),
    (dict(kernel_size=2.0), "kernel_size must be a positive integer, got 2.0"),
    (dict(lam_init=float("inf")), "lam_init must be a positive finite number, got inf"),
    (dict(delta=0), "delta must be a positive finite number, got 0"),
    (dict(L_margin=0.9), "L_margin must be at least 1, got 0.9"),
    (dict(input_scaling="zscore"), "input_scaling must be one of none, unit_interval, got 'zscore'"),
])
def test_bad_model_config_values_name_the_field_and_value(kwargs, message):
    with pytest.raises(ConfigError) as err:
        ModelConfig(**kwargs)
    assert str(err.value) == message


def test_bad_train_config_is_refused():
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig(epochs=0)


@pytest.mark.parametrize("kwargs,message", [
    (dict(lr_decay=1.5), "lr_decay must be at most 1, got 1.5"),
    (dict(seed=-1), "seed must be a non-negative integer, got -1"),
    (dict(seed=True), "seed must be a non-negative integer, got True"),
    (dict(lam_lr=0.0), "lam_lr must be a positive finite number, got 0.0"),
    (dict(batch_size=0), "batch_size must be a positive integer, got 0"),
])
def test_bad_train_config_values_name_the_field_and_value(kwargs, message):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**kwargs)
    assert str(err.value) == message


def test_configs_round_trip_through_json():
    model = ModelConfig(kind="2d", channels=3, num_filters=5, kernel_size=7, stride=3, L=12.5, tied=False,
                        input_scaling="unit_interval")
    train = TrainConfig(epochs=3, lam_lr=0.2, supervised=True)
    assert ModelConfig.from_dict(json.loads(json.dumps(model.to_dict()))) == model
    assert TrainConfig.from_dict(json.loads(json.dumps(train.to_dict()))) == train
    assert model.replace(num_layers=7).num_layers == 7 and model.num_layers == 50      # frozen: replace copies


def test_unknown_keys_are_refused():
    with pytest.raises(ConfigError, match=r"unknown ModelConfig keys \['colour'\]; is this file from a newer crsae"):
        ModelConfig.from_dict({**ModelConfig().to_dict(), "colour": "red"})


def test_derived_sizes():
    one = ModelConfig(kind="1d", kernel_size=20, num_layers=50, lam_init=4.0, delta=2.5)
    assert (one.ndim, one.min_size, one.chunk_halo, one.prior_shape) == (1, 20, 51 * 19, 10.0)
    two = ModelConfig(kind="2d", kernel_size=7, stride=5, num_layers=30)
    assert (two.ndim, two.min_size, two.chunk_halo) == (2, 14, 0)                   # 3s - 1 = 14 > K = 7
    assert ModelConfig(kind="2d", kernel_size=7, stride=2).min_size == 7
