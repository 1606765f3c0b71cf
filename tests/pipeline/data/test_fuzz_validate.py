"""Property-based fuzzing of reading and validation: a valid monthly CSV, mutated at random (inserted and deleted
characters, raw bytes, line breaks, quotes, swapped, dropped and repeated lines, replaced fields), must end in
either a DataValidationError naming a row, or a clean series equal to what an independent strict parser reads.
Never another exception. Each ``value_domain`` refuses what it must (``positive``: zero and below, ``nonnegative``:
below zero) and the others take any finite number. Bounded: half of ``FUZZ_EXAMPLES`` examples a domain (default
1500)."""

from __future__ import annotations

import csv
import io
import os
import unicodedata
from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import load_config
from pipeline.data.ingest import MAX_ROW_BYTES
from pipeline.data.validate import check_csv, raise_for_report
from pipeline.errors import DataValidationError

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500"))
# Characters that break CSVs in practice: delimiters, quotes, line breaks, controls, invisible and look-alike ones.
NASTY = ",;\t\"' \r\n\x00\x1f\x7f\x85\xa0\u200b\ufeff\u2028-+.eE0123456789naif\uff11\u0663_"
# Whole fields at the edges of the format: other digits and separators, special numbers, odd dates and quoting.
TRICKY = ["\uff13\uff11\uff15", "\u0661\u0662", "1_000", " 12 ", "\t12", "1e3", ".5", "5.", "+5", "-5", "0", "0.0",
          "nan", "NaN", "inf", "-Infinity", "1e999", "1e-999", '"12"', "'12'", "12\x00", "1,2", "1949-1", "1949-01-01",
          "1949-02-30", "1949-01-01T00:00", "1949-01-01 12:00:00", "1600-01", "2999-01", "1949/01", "Jan 1949",
          '"1949-01"', "", " ", "NA", "null", "-"]
TEXT = st.one_of(st.text(alphabet=NASTY, max_size=6), st.sampled_from(TRICKY))


@st.composite
def mutated_csv(draw) -> bytes:
    """A valid AirPassengers-like file, then up to 4 mutations."""
    start = draw(st.integers(1900, 2000)) * 12
    values = draw(st.lists(st.integers(1, 100_000), min_size=3, max_size=30))
    lines = ["Month,#Passengers"] + [f"{(start + i) // 12:04d}-{(start + i) % 12 + 1:02d},{v}"
                                     for i, v in enumerate(values)]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "swap", "drop", "repeat", "field", "field", "field", "crlf",
                                     "bom"]))
        i, j = (draw(st.integers(0, len(lines) - 1)) for _ in range(2))
        if kind == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(TEXT) + lines[i][at:]
        elif kind == "delete":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + lines[i][at + draw(st.integers(1, 3)):]
        elif kind == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "drop" and len(lines) > 1:
            del lines[i]
        elif kind == "repeat":
            lines.insert(i, lines[j])
        elif kind == "field":
            fields = lines[i].split(",")
            fields[draw(st.integers(0, len(fields) - 1))] = draw(TEXT)
            lines[i] = ",".join(fields)
        elif kind == "crlf":
            lines[i] += "\r"
        elif kind == "bom":
            lines[i] = "\ufeff" + lines[i]
    data = ("\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))).encode("utf-8")
    if draw(st.booleans()) and data:  # a raw byte that may break the UTF-8
        at = draw(st.integers(0, len(data)))
        data = data[:at] + bytes([draw(st.integers(0x80, 0xFF))]) + data[at:]
    return data


def strict_parse(data: bytes, domain: str = "auto") -> dict[int, float] | None:
    """An independent reading of the product's format: {month index: value}, or None when it must be refused
    (a value outside a declared ``value_domain`` among the reasons)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if any("\r" in line[:-1] for line in lines) or (lines and lines[-1].endswith("\r")):
        return None
    if any(len(line.encode()) + 1 > MAX_ROW_BYTES for line in lines):
        return None
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in "\t\r\n" for c in text):
        return None
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        return None
    if any("\n" in f or "\r" in f for r in records for f in r) or not records:
        return None
    header = [h.strip(" \t") for h in records[0]]
    named = [h for h in header if h]
    if len(set(named)) != len(named) or "Month" not in header or "#Passengers" not in header:
        return None
    out: dict[int, float] = {}
    rows = [r for r in records[1:] if any(f.strip(" \t") for f in r)]
    if not rows:
        return None
    for record in rows:
        if len(record) != len(header):
            return None
        month = _strict_month(record[header.index("Month")].strip(" \t"))
        value = _strict_value(record[header.index("#Passengers")].strip(" \t"), domain)
        if month is None or value is None or month in out:
            return None
        out[month] = value
    months = sorted(out)
    if months[-1] - months[0] + 1 != len(months):
        return None
    return out


def _strict_month(text: str) -> int | None:
    day_part, _, time_part = text.replace(" ", "T", 1).partition("T")
    parts = day_part.split("-")
    if (len(parts) not in (2, 3) or not all(p.isascii() and p.isdigit() for p in parts) or len(parts[0]) != 4
            or any(not 1 <= len(p) <= 2 for p in parts[1:]) or any(c not in "0123456789:.+Z-" for c in time_part)):
        return None
    try:
        day = date(int(parts[0]), int(parts[1]), int(parts[2]) if len(parts) == 3 else 1)
    except ValueError:
        return None
    today = date.today()
    if day.year < 1678 or (day.year, day.month) > (today.year, today.month):
        return None
    return day.year * 12 + day.month - 1


def _strict_value(text: str, domain: str) -> float | None:
    if not text.isascii() or "_" in text or text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    allowed = {"positive": value > 0, "nonnegative": value >= 0}.get(domain, True)
    return value if np.isfinite(value) and allowed else None


# Number-like and date-like text: ASCII and other digits, signs, separators, exponents, words of special values.
NUMBERISH = st.text(alphabet="0123456789+-.eE _,:T/\t\uff10\uff11\uff19\u0660\u0669\u00b2infatyINFATY", max_size=10)


@st.composite
def one_field_replaced(draw) -> bytes:
    """A valid 13-month file with one date or value field replaced by number- or date-like text."""
    values = draw(st.lists(st.integers(1, 10_000), min_size=13, max_size=13))
    months = [f"1990-{m:02d}" for m in range(1, 13)] + ["1991-01"]
    rows = [[month, str(value)] for month, value in zip(months, values, strict=True)]
    row, column = draw(st.integers(0, 12)), draw(st.integers(0, 1))
    rows[row][column] = draw(st.one_of(NUMBERISH, st.sampled_from(TRICKY)))
    return ("Month,#Passengers\n" + "".join(f"{a},{b}\n" for a, b in rows)).encode("utf-8")


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("domain", ["auto", "positive", "nonnegative", "real"])
@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(mutated_csv(), one_field_replaced()))
def test_validation_refuses_with_a_row_or_agrees_with_a_strict_parser(tmp_path, domain, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    expected = strict_parse(data, domain)
    try:
        panel, report = check_csv(path, load_config(overrides={"value_domain": domain}), min_months=1)
        raise_for_report(report)
        series = panel.series(0)
    except DataValidationError as exc:
        assert exc.row is not None and exc.file == str(path), str(exc)
        assert len(exc.message) < 400, "messages quote short excerpts only"
        assert expected is None, f"refused a file the strict parser reads: {exc}"
        return
    assert expected is not None, f"accepted a file the strict parser refuses: {data!r}"
    got = dict(zip((series.index.year * 12 + series.index.month - 1).tolist(), series.tolist(), strict=True))
    assert got == expected
