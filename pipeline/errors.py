"""Errors the pipeline raises on purpose."""

from __future__ import annotations


class DataValidationError(ValueError):
    """Bad input data: names the file, the row (1-based line in the file) and the column.

    A data error is not transient, so orchestrators must not retry it.
    """

    def __init__(self, file: str, message: str, row: int | None = None, column: str | None = None):
        self.file = str(file)
        self.row = row
        self.column = column
        self.message = message
        where = [self.file]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {message}")


class ConfigError(ValueError):
    """An invalid configuration value or an unknown key."""


class TrackingUnavailableError(RuntimeError):
    """The MLflow tracking server cannot be reached (transient: orchestrators should retry)."""
