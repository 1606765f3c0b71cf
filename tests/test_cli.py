import json
import subprocess
import sys

import pytest

from pipeline.cli import main
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
    assert lines[0].split() == ["month", "forecast"]
    assert [line.split()[0] for line in lines[1:]] == ["2006-01", "2006-02", "2006-03", "2006-04"]
    assert all(float(line.split()[1]) > 0 for line in lines[1:])


def test_validate_accepts_the_bundled_data(capsys):
    assert main(["validate", "--csv", str(DATA)]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "passed"


def test_validate_refuses_bad_data_naming_file_row_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("Month,#Passengers\n1949-01,112\n1949-02,-3\n")
    assert main(["validate", "--csv", str(bad), "--lookback", "1", "--holdout", "1", "--val-size", "0"]) == 1
    err = capsys.readouterr().err
    assert f"ERROR {bad}, row 3, column '#Passengers': value -3 is not positive" in err


def test_bad_flag_values_exit_2(capsys):
    assert main(["validate", "--epochs", "zero"]) == 2
    assert "epochs" in capsys.readouterr().err


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout
    assert "run" in out and "forecast" in out and "validate" in out
