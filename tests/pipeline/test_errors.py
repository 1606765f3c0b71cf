from pipeline.errors import (
    ConfigError,
    DataValidationError,
    PipelineError,
    TrackingUnavailableError,
    excerpt,
)


def test_an_excerpt_is_short_and_escaped():
    assert excerpt("31\x005") == "'31\\x005'"
    assert excerpt("x" * 100, limit=5) == "'xxxxx'…"


def test_a_data_error_names_file_row_and_column():
    error = DataValidationError("data/a.csv", "missing value", row=11, column="#Passengers")
    assert str(error) == "data/a.csv, row 11, column '#Passengers': missing value"
    assert str(DataValidationError("data/a.csv", "file is empty")) == "data/a.csv: file is empty"


def test_only_transient_faults_are_retried():
    assert not DataValidationError("f", "m").retryable and not ConfigError("bad").retryable
    assert TrackingUnavailableError("down").retryable and isinstance(TrackingUnavailableError("x"), PipelineError)
