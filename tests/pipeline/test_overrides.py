import pytest

from pipeline.config import OPERATOR_KEYS, TRIGGER_KEYS
from pipeline.errors import ConfigError
from pipeline.overrides import trigger_overrides


def test_a_trigger_sets_model_settings_only():
    assert trigger_overrides({"epochs": 5, "seed": None, "preset": "keras-seed"}) == {"epochs": 5,
                                                                                     "preset": "keras-seed"}
    assert trigger_overrides(None) == {}
    for key in ("csv_path", "data_dir", "allow_any_csv_path", "max_file_mb", "registered_model_name",
                "baseline_gate"):
        assert key in OPERATOR_KEYS and key not in TRIGGER_KEYS
        with pytest.raises(ConfigError, match=f"DAG param '{key}' is set by the operator"):
            trigger_overrides({key: "x"})
    with pytest.raises(ConfigError, match=r"unknown DAG param 'epoch' \(did you mean 'epochs'\?\)"):
        trigger_overrides({"epoch": 2})
    with pytest.raises(ConfigError, match=r"unknown DAG param '\\x00'"):
        trigger_overrides({"\x00": 1})
