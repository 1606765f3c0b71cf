import json
import subprocess
import sys

import pytest

from pipeline.cli import main
from pipeline.model.candidates import CANDIDATES
from tests.conftest import DATA, ROOT, TINY


def _flags(values: dict) -> list[str]:
    return [arg for key, value in values.items() for arg in (f"--{key.replace('_', '-')}", str(value))]


@pytest.mark.slow
def test_run_then_forecast_with_the_champion(state, synthetic_csv, capsys):
    assert main(["run", "--csv", str(synthetic_csv), *_flags(TINY)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["promoted"] is True and summary["model_version"] == "1"
    assert summary["data_month"] == "2005-12" and summary["metrics"]["holdout_mape"] > 0

    assert main(["forecast", "--months", "4", "--csv", str(synthetic_csv), *_flags(TINY)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["series", "month", "forecast"] and "champion v1" in lines[0]
    assert [line.split()[1] for line in lines[1:]] == ["2006-01", "2006-02", "2006-03", "2006-04"]
    assert all(float(line.split()[2]) > 0 and line.split()[-1] in CANDIDATES for line in lines[1:])
    # the bands: 80 % from the 12 backtest residuals, 95 % needs 19 (n/a)
    assert lines[0].split()[3:7] == ["lower_80", "upper_80", "lower_95", "upper_95"]
    for line in lines[1:]:
        forecast, lower, upper, *unknown = line.split()[2:7]
        assert float(lower) < float(forecast) < float(upper) and unknown == ["n/a", "n/a"]


def test_validate_accepts_the_bundled_data(capsys):
    assert main(["validate", "--csv", str(DATA)]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "passed"


def test_validate_refuses_bad_data_naming_file_row_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("Month,#Passengers\n1949-01,112\n1949-02,-3\n")
    assert main(["validate", "--csv", str(bad), "--allow-any-csv-path", "true", "--value-domain", "positive"]) == 1
    err = capsys.readouterr().err
    assert f"ERROR {bad}, row 3, column '#Passengers': value -3 is not positive (value_domain positive)" in err


def test_bad_flag_values_exit_1_with_one_line(capsys):
    assert main(["validate", "--epochs", "zero"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "epochs" in err[0] and err[0].startswith("error: ")


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout
    assert "run" in out and "forecast" in out and "validate" in out


@pytest.mark.parametrize("command", ["run", "validate", "forecast", "backtest", "rollback", "backfill", "settings",
                                     "serve", "sign-model"])
def test_every_commands_help_describes_its_flags(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "usage:" in out
    if command != "settings":
        assert "alert when the champion's MAPE on the months since it was trained exceeds this (%)" in " ".join(
            out.split()), "each flag says what its setting does"


@pytest.mark.slow
def test_backtest_on_any_monthly_csv(tmp_path, capsys):
    from tests.conftest import seasonal_series, write_csv

    csv = write_csv(tmp_path / "sales.csv", seasonal_series(60, level=5000), "date", "sales")
    args = ["backtest", "--csv", str(csv), "--date-column", "date", "--target-column", "sales", *_flags(TINY)]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["folds"] == 2 and [f["train_end"] for f in summary["per_fold"]] == ["2003-12", "2004-06"]
    assert set(summary["mean"]) == {*CANDIDATES, "published", "published_without_lstm"}
    # 2 folds of 6 months: 6 residuals calibrate each fold's intervals, enough for 80 % but not for 95 % (19)
    assert set(summary["mean"]["lstm"]) == {"mape", "smape", "rmse", "mae", "mase", "coverage_80", "width_80",
                                            "msis_80"}
    assert main(args) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "1 series, 2 folds; means over series-folds"
    assert table[1].split()[:3] == ["fold", "train", "to"]
    means = [line.split()[1] for line in table if line.startswith("mean")]
    assert means == [*CANDIDATES, "published", "published_without_lstm"], table
    assert any(line.startswith("LSTM better than seasonal_naive on") for line in table)
    assert table[-1].startswith("LSTM better than")


@pytest.mark.slow
def test_backtest_with_tuning_tunes_each_fold_on_its_own_training_months(tmp_path, capsys):
    from tests.conftest import seasonal_series, write_csv

    csv = write_csv(tmp_path / "sales.csv", seasonal_series(96, level=5000), "date", "sales")
    args = ["backtest", "--csv", str(csv), "--date-column", "date", "--target-column", "sales", *_flags(TINY),
            "--tune-trials", "2"]
    assert main([*args, "--tune", "true", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [t["train_end"] for t in summary["tuned"]] == [f["train_end"] for f in summary["per_fold"]]
    assert all(t["mase"] > 0 and "hidden_size" in t["params"] for t in summary["tuned"])
    assert main([*args, "--tune", "true"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("fold 1: tuned on the months to 2007-06 (2 trials), chose trial ")
    with pytest.raises(SystemExit) as refused:
        main([*args, "--tune", "maybe"])
    assert refused.value.code == 2 and "argument --tune: invalid boolean value: 'maybe'" in capsys.readouterr().err


def test_backfill_months_cover_the_range():
    from pipeline.cli import backfill_months

    assert backfill_months("1958-11", "1959-02") == [("1958-11", "1958-12-01"), ("1958-12", "1959-01-01"),
                                                     ("1959-01", "1959-02-01"), ("1959-02", "1959-03-01")]


@pytest.mark.slow
def test_backfill_retrains_month_by_month_and_moves_the_champion_only_on_improvement(state, capsys):
    from mlflow.tracking import MlflowClient

    from pipeline import settings

    assert main(["backfill", "--from", "1960-08", "--to", "1960-10", *_flags(TINY)]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out[out.index("[\n"):])
    assert [r["month"] for r in rows] == ["1960-08", "1960-09", "1960-10"]
    assert [r["version"] for r in rows] == ["1", "2", "3"] and rows[0]["promoted"] is True
    client = MlflowClient(settings.tracking_uri())
    runs = client.search_runs([client.get_experiment_by_name("lstm-monthly-retraining").experiment_id],
                              "tags.kind = 'monthly'")
    assert sorted(r.info.run_name for r in runs) == ["1960-08", "1960-09", "1960-10"]
    assert all(r.data.tags["trigger"] == "backfill" for r in runs)
    last_promoted = [r["version"] for r in rows if r["promoted"]][-1]
    assert str(client.get_model_version_by_alias("air_passengers_lstm", "champion").version) == last_promoted
    for row in rows[1:]:
        assert row["promoted"] == ("beats" in row["reason"]), row


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def test_commands_without_a_store_or_champion_say_so_in_one_line(state, capsys):
    assert main(["forecast"]) == 1
    assert "no MLflow store at sqlite:///" in _one_error_line(capsys)
    assert main(["rollback", "--reason", "x"]) == 1
    assert "no MLflow store" in _one_error_line(capsys)
    assert main(["serve"]) == 1
    assert "no MLflow store" in _one_error_line(capsys)
    assert not (state / "mlflow.db").exists(), "a command that reads must not create an empty store"
    from pipeline.ops import tracking

    tracking.ensure_experiment(tracking.configure(), "lstm-monthly-retraining")  # a store, no model yet
    capsys.readouterr()
    assert main(["forecast"]) == 1
    assert "registered model 'air_passengers_lstm' has no champion yet" in _one_error_line(capsys)
    assert main(["rollback", "--reason", "x"]) == 1
    assert "has no champion to roll back" in _one_error_line(capsys)
    assert main(["serve"]) == 1
    assert "air_passengers_lstm has no version aliased 'champion'" in _one_error_line(capsys)


@pytest.mark.parametrize("argv, message", [
    (["validate", "--as-of", "garbage"], "as-of date 'garbage' is not a date"),
    (["forecast", "--as-of", "1961-13-45"], "as-of date '1961-13-45' is not a date"),
    (["run", "--run-key", "it's mine"], "run key \"it's mine\" may only hold"),
    (["backfill", "--from", "1960-1", "--to", "1960-03"], "--from '1960-1' is not a month"),
    (["validate", "--learning-rate", "nan"], "'learning_rate' must be a finite number"),
    (["validate", "--epochs", "1000000000"], "'epochs' must be between 1 and 5000"),
])
def test_wrong_arguments_exit_1_with_one_line(state, capsys, argv, message):
    assert main(argv) == 1
    assert message in _one_error_line(capsys)
    assert not (state / "mlflow.db").exists()


@pytest.mark.slow
def test_a_corrupted_champion_is_refused_not_forecast(state, synthetic_csv, capsys):
    assert main(["run", "--csv", str(synthetic_csv), *_flags(TINY)]) == 0
    (weights,) = (state / "mlartifacts").rglob("weights.pt")
    raw = bytearray(weights.read_bytes())
    raw[-200:-184] = bytes(16)
    weights.write_bytes(bytes(raw))
    capsys.readouterr()
    assert main(["forecast", "--csv", str(synthetic_csv), *_flags(TINY)]) == 1
    assert "registered model air_passengers_lstm v1: its files do not match its signature" in _one_error_line(capsys)
    assert capsys.readouterr().out == "", "no forecast printed"
    assert main(["sign-model", "7", "--csv", str(synthetic_csv)]) == 1
    assert "air_passengers_lstm has no version '7'" in _one_error_line(capsys)
    # an operator who signs it anyway: the checksum the spec recorded at training still refuses the weights
    assert main(["sign-model", "1", "--csv", str(synthetic_csv)]) == 0
    assert capsys.readouterr().out.startswith("air_passengers_lstm v1: signed (hmac-sha256-v1:")
    assert main(["forecast", "--csv", str(synthetic_csv), *_flags(TINY)]) == 1
    assert "do not match the checksum recorded when the model was trained" in _one_error_line(capsys)


@pytest.mark.slow
def test_a_panel_of_every_shape_through_validate_and_backtest(tmp_path, capsys):
    from tests.dags.test_dag_panel import INACTIVE, NET, SHORT, ZEROS, small_panel

    csv = tmp_path / "shapes.csv"
    small_panel().to_csv(csv, index=False)
    columns = ["--csv", str(csv), "--allow-any-csv-path", "true", "--series-column", "series_id", "--date-column",
               "month", "--target-column", "employed", "--max-quarantine-share", "0.2"]
    assert main(["validate", *columns]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["series"] == {"in": 12, "quarantined": 1, "inactive": 1, "short": 0, "kept": 10}
    assert f"INACTIVE series {INACTIVE}: no month since 2017-12" in out.err
    tiny = _flags({k: v for k, v in TINY.items() if k != "allow_any_csv_path"})
    for alignment, scored in (("calendar", 10), ("series_end", 11)):  # series_end: the discontinued one too
        assert main(["backtest", *columns, *tiny, "--fold-alignment", alignment, "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["series"] == scored and {ZEROS, NET, SHORT} <= set(summary["per_series"])
        assert (INACTIVE in summary["per_series"]) == (alignment == "series_end")
        assert all(row["lstm.mase"] >= 0 for row in summary["per_series"].values())


def test_validate_says_what_it_inferred_and_what_to_look_at(tmp_path, capsys):
    values = [112 + m for m in range(40)]
    values[17] = -118
    path = tmp_path / "typo.csv"
    path.write_text("Month,#Passengers\n" + "".join(f"{1949 + m // 12}-{m % 12 + 1:02d},{v}\n"
                                                    for m, v in enumerate(values)))
    assert main(["validate", "--csv", str(path), "--allow-any-csv-path", "true"]) == 0
    err = capsys.readouterr().err
    assert f"LOOK AT {path}, series typo, row 19, column '#Passengers': value -118" in err
    assert "values: real (value_domain auto; series: 1 real)" in err
