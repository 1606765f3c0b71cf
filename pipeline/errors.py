"""Errors the pipeline raises on purpose, and the excerpt helper every message that quotes input uses.

Every class here derives from :class:`PipelineError`: the command line prints it as one line (exit 1) and the
DAG fails the task at once unless ``retryable`` is true (a transient fault, such as an unreachable server).
"""

from __future__ import annotations

EXCERPT_CHARS = 40


def excerpt(text: object, limit: int = EXCERPT_CHARS) -> str:
    """A short, escaped quotation of input: ``repr`` of at most ``limit`` characters, ``…`` when cut.

    Control and invisible characters come out escaped (``'31\\x005'``), so a message never carries raw file
    contents, whatever the file holds.
    """
    value = str(text)
    return repr(value[:limit]) + ("…" if len(value) > limit else "")


class PipelineError(Exception):
    """An error the pipeline explains itself; not retried unless ``retryable``."""

    retryable = False


class DataValidationError(PipelineError, ValueError):
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
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


class ConfigError(PipelineError, ValueError):
    """An invalid configuration value, an unknown key, or a key the caller may not set."""


class ModelIntegrityError(PipelineError):
    """A model's files do not match the checksum recorded when it was trained, or it forecast NaN/infinity."""


class TrainingDivergedError(PipelineError):
    """Training produced a non-finite loss (the settings, typically the learning rate, do not fit the data)."""


class NotFoundError(PipelineError):
    """Something the command needs does not exist yet: the MLflow store, a registered model, its champion."""


class ChampionMovedError(PipelineError):
    """The champion alias moved while a run scored it part by part: the parts scored different versions (a re-run
    scores the champion in place again)."""


class StorageFullError(PipelineError, OSError):
    """A file could not be written for want of room (a full disk, a quota, a file-size limit); the file it would
    have replaced is unchanged (transient once room is made: orchestrators should retry)."""

    retryable = True


class TrackingUnavailableError(PipelineError, RuntimeError):
    """The MLflow tracking server cannot be reached (transient: orchestrators should retry)."""

    retryable = True
