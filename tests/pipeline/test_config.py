import pytest

from pipeline.config import Config, load_config, presets
from pipeline.errors import ConfigError


def test_defaults():
    cfg = load_config()
    assert (cfg.date_column, cfg.target_column, cfg.holdout, cfg.folds, cfg.horizon) == (
        "Month", "#Passengers", 12, 3, 12)
    assert (cfg.preset, cfg.log_transform, cfg.relative_windows, cfg.output_steps) == ("lstm-direct", True, True, 12)
    # the seasonal view reads 6 year-over-year changes: 18 months, more than the 12-month relative view
    assert (cfg.lookback, cfg.seasonal_lookback, cfg.input_months) == (12, 6, 18)
    assert (cfg.value_domain, cfg.fold_alignment, cfg.min_series_months, cfg.inactive_after) == (
        "auto", "calendar", 24, 12)
    assert load_config(overrides={"seasonal_lookback": 0}).input_months == 12
    assert cfg.experiment_name == "lstm-monthly-retraining"
    assert cfg.registered_model_name == "air_passengers_lstm"


def test_a_panel_gets_the_global_model_unless_a_preset_is_named(tmp_path):
    assert load_config().preset == "lstm-direct"
    panel = load_config(overrides={"series_column": "id"})
    assert (panel.preset, panel.seasonal_lookback, panel.mase_loss) == ("lstm-global", 24, True)
    assert load_config(overrides={"series_column": "id", "preset": "lstm-direct"}).preset == "lstm-direct"
    path = tmp_path / "deployment.yaml"
    path.write_text("series_column: id\npreset: ''\n")  # empty: chosen by the data's shape
    assert load_config(path).preset == "lstm-global"


@pytest.mark.parametrize("values, message", [
    ({"value_domain": "signed"}, "'value_domain' must be one of auto, positive, nonnegative, real"),
    ({"fold_alignment": "end"}, "'fold_alignment' must be one of calendar, series_end"),
    ({"min_series_months": 12}, "'min_series_months' must be above season_length \\(12\\)"),
])
def test_shape_settings_are_checked(values, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=values)


def test_presets_reproduce_the_two_setups():
    keras = load_config(overrides={"preset": "keras-seed"})
    assert (keras.num_layers, keras.hidden_size, keras.dropout, keras.learning_rate, keras.epochs,
            keras.batch_size, keras.lookback) == (4, 50, 0.2, 0.001, 100, 32, 60)
    torch_ = load_config(overrides={"preset": "pytorch-seed"})
    assert (torch_.num_layers, torch_.hidden_size, torch_.learning_rate, torch_.lookback) == (2, 64, 0.01, 60)
    for article in (keras, torch_):  # the article's scaling and one-step recursion, a single network
        assert (article.log_transform, article.relative_windows, article.output_steps, article.ensemble_size,
                article.patience, article.seasonal_lookback) == (False, False, 1, 1, 0, 0)
        assert article.input_months == article.lookback
    assert set(presets()) == {"lstm-direct", "lstm-global", "keras-seed", "pytorch-seed"}


def test_precedence_preset_then_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preset: keras-seed\nepochs: 7\nhidden_size: 20\n")
    cfg = load_config(path, {"hidden_size": 30, "seed": None})
    assert (cfg.preset, cfg.num_layers, cfg.epochs, cfg.hidden_size, cfg.seed) == ("keras-seed", 4, 7, 30, 42)


def test_strings_from_the_command_line_are_coerced():
    cfg = load_config(overrides={"epochs": "5", "dropout": "0.1", "baseline_gate": "false"})
    assert (cfg.epochs, cfg.dropout, cfg.baseline_gate) == (5, 0.1, False)


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": 0}, "epochs"), ({"dropout": 1.5}, "dropout"), ({"preset": "nope"}, "unknown preset"),
    ({"epoch": 3}, "unknown config keys"), ({"epochs": "many"}, "epochs"), ({"lookback": 2.5}, "lookback"),
])
def test_invalid_values_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        Config().epochs = 3  # type: ignore[misc]


def test_seasonal_view_cannot_predict_past_a_season():
    with pytest.raises(ConfigError, match=r"seasonal_lookback.*output_steps <= season_length"):
        load_config(overrides={"output_steps": 13, "horizon": 13})
    assert load_config(overrides={"output_steps": 13, "horizon": 13, "seasonal_lookback": 0}).output_steps == 13
    with pytest.raises(ConfigError, match="all empty"):
        load_config(overrides={"lookback": 0, "seasonal_lookback": 0})
    assert load_config(overrides={"lookback": 0}).input_months == 18  # the year-over-year view alone


@pytest.mark.parametrize("overrides, message", [
    ({"learning_rate": float("nan")}, "'learning_rate' must be a finite number"),
    ({"learning_rate": "inf"}, "'learning_rate' must be a finite number"),
    ({"learning_rate": 2.0}, "'learning_rate' must be between 1e-06 and 1.0"),
    ({"epochs": 10**9}, "'epochs' must be between 1 and 5000"),
    ({"ensemble_size": 1000}, "'ensemble_size' must be between 1 and 64"),
    ({"seed": -1}, "'seed' must be between"),
    ({"registered_model_name": "x' or name='y"}, "'registered_model_name' must start with a letter"),
    ({"date_column": "Mo\x00nth"}, "'date_column' must be 1 to 1000 characters"),
])
def test_non_finite_and_out_of_range_values_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_the_panel_preset_reads_yearly_changes_beside_three_years_against_their_level():
    cfg = load_config(overrides={"preset": "lstm-global"})
    assert (cfg.lookback, cfg.seasonal_lookback, cfg.level_lookbacks, cfg.input_months) == (0, 24, [36], 36)
    assert (cfg.output_steps, cfg.steps_out, cfg.deseasonalise, cfg.combine) == (0, 12, True, "median")
    assert (cfg.mase_loss, cfg.val_size, cfg.ensemble_size, cfg.hidden_size, cfg.networks) == (True, 0, 3, 32, 6)
    assert load_config().mase_loss is False, "AirPassengers' default is untouched"


@pytest.mark.parametrize("value, levels", [("80,95", (80, 95)), ("95, 80", (80, 95)), (95, (95,)), ([80, 95], (80, 95)),
                                           ("90,90", (90,))])
def test_interval_levels_read_as_yaml_writes_them(value, levels):
    assert load_config(overrides={"interval_levels": value}).levels == levels


@pytest.mark.parametrize("value", ["", "abc", "100", "49", "80,", "50,60,70,80,90", [80, "x"], True, 95.5])
def test_interval_levels_out_of_range_are_refused(value):
    with pytest.raises(ConfigError, match="interval_levels"):
        load_config(overrides={"interval_levels": value})


@pytest.mark.parametrize("doc, marker, common", [("README.md", "common", True),
                                                 ("docs/configuration.md", "all", False)])
def test_the_docs_settings_tables_are_the_declarations(doc, marker, common):
    """Derived, not written twice: regenerate with `python -m pipeline settings [--common]`."""
    from pipeline.config import settings_table
    from tests.conftest import ROOT

    text = (ROOT / doc).read_text(encoding="utf-8")
    start, end = f"<!-- settings:{marker} -->\n", f"<!-- /settings:{marker} -->"
    assert text[text.index(start) + len(start):text.index(end)] == settings_table(common_only=common)


def test_the_tables_show_the_value_each_shape_of_data_gets():
    """The table's two columns are what a run resolves for one series and for a panel, read from the code."""
    from pipeline.config import SETTINGS, settings_table

    single, panel = load_config(), load_config(overrides={"series_column": "series"})
    assert (single.epochs, panel.epochs) == (300, 8), "the presets' epochs, as the README shows them"
    rows = {line.split(" | ")[0].removeprefix("| `").removesuffix("`"): line.split(" | ")
            for line in settings_table().splitlines()[2:]}
    for name in set(SETTINGS) - {"series_column", "preset"}:  # the shape itself, and the preset it picks
        assert rows[name][1:3] == [f"`{getattr(single, name)!r}`", f"`{getattr(panel, name)!r}`"], name


def test_each_setting_is_declared_once_with_its_facts():
    from pipeline.config import BOUNDS, LEGACY_MODEL_SETTINGS, MODEL_KEYS, OPERATOR_KEYS, SETTINGS, TRIGGER_KEYS

    assert set(OPERATOR_KEYS) | set(TRIGGER_KEYS) == set(SETTINGS) and not set(OPERATOR_KEYS) & set(TRIGGER_KEYS)
    assert BOUNDS["epochs"] == (1, 5000) and "csv_path" in OPERATOR_KEYS and "epochs" in TRIGGER_KEYS
    assert {"lookback", "shard_size", "precision"} <= set(MODEL_KEYS) and "holdout" not in MODEL_KEYS
    assert LEGACY_MODEL_SETTINGS == {"seasonal_lookback": 0, "windows_per_series": 0, "mase_loss": False,
                                     "warm_start": False, "warm_epochs": 0, "precision": "fp32",
                                     "value_domain": "positive", "level_lookback": "", "deseasonalise": False,
                                     "theta_input": False, "loss": "mse", "combine": "mean",
                                     "lr_schedule": "constant"}
    assert all(s.doc for s in SETTINGS.values())


def test_the_presets_set_model_settings_only():
    from pipeline import config

    for name, values in presets().items():
        assert set(values) <= set(config.MODEL_KEYS), name
    assert "presets:" in (config.resources.files("pipeline") / "defaults.yaml").read_text()
    assert load_config().to_dict() == {**Config().to_dict(), "preset": "lstm-direct"}, \
        "lstm-direct is the declared defaults"


@pytest.mark.parametrize("key, value", [("level_lookback", "36,x"), ("level_lookback", "0"),
                                        ("level_lookback", ",".join(["12"] * 9)), ("loss", "huber"),
                                        ("loss", ""), ("combine", "max"), ("lr_schedule", "linear")])
def test_the_designs_settings_refuse_what_they_cannot_train(key, value):
    with pytest.raises(ConfigError, match=key):
        load_config(overrides={key: value})


def test_a_level_view_alone_predicting_the_whole_horizon():
    cfg = load_config(overrides={"lookback": 0, "seasonal_lookback": 0, "level_lookback": [36, 54],
                                 "output_steps": 0, "horizon": 18})
    assert cfg.level_lookbacks == [36, 54] and cfg.steps_out == 18 and cfg.input_months == 54 and cfg.networks == 10


def test_the_whole_horizon_beside_a_year_over_year_view():
    cfg = load_config(overrides={"seasonal_lookback": 12, "level_lookback": 36, "output_steps": 0, "horizon": 18})
    from pipeline.data.features import ViewSpec

    assert [(v.steps, v.level) for v in ViewSpec.views(cfg)] == [(18, False), (12, False), (18, True)]
