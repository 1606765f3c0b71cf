"""The parts the DAG files share: the params of the trigger settings."""

import pytest

from pipeline.config import BOUNDS, TRIGGER_KEYS
from pipeline.dagkit import trigger_params


def test_params_of_every_trigger_setting_or_of_some():
    every = trigger_params()
    assert set(every) == set(TRIGGER_KEYS) and every["epochs"].value is None
    some = trigger_params(["tune_trials", "tuned_config"])
    assert set(some) == {"tune_trials", "tuned_config"}
    assert (some["tune_trials"].schema["minimum"], some["tune_trials"].schema["maximum"]) == BOUNDS["tune_trials"]
    assert some["tuned_config"].schema["enum"] == [None, "", "latest"]
    with pytest.raises(ValueError, match="csv_path is not a setting a trigger may set"):
        trigger_params(["csv_path"])
