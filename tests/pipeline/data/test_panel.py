import numpy as np
import pandas as pd
import pytest

from pipeline.data.panel import Panel, series_hash, shard_bounds, shard_for, shards
from pipeline.errors import ConfigError
from tests.conftest import panel_of, seasonal_series


def test_a_panel_holds_series_back_to_back():
    a, b = seasonal_series(30), seasonal_series(24, start="2001-01", level=50.0)
    panel = panel_of(a, b, ids=["a", "b"])
    assert len(panel) == 2 and panel.length(0) == 30 and panel.length(1) == 24
    np.testing.assert_array_equal(panel.values_of(1), b.to_numpy())
    assert panel.series(1).index[0] == pd.Timestamp("2001-01-01") and panel.position("b") == 1
    assert panel.last_month == 2002 * 12 + 11  # both end in December 2002
    cut = panel.cut(2002 * 12)  # before January 2002
    assert [cut.length(i) for i in range(2)] == [24, 12]
    rows, values = panel.window(2002 * 12, 6)
    assert rows == [0, 1] and values.shape == (2, 6) and values[1, 0] == b.iloc[12]
    assert panel.subset([1]).ids == ["b"] and panel.subset([1]).length(0) == 24


def test_round_trips_through_a_file_and_a_long_table(tmp_path):
    panel = panel_of(seasonal_series(30), seasonal_series(24, start="2001-01"), ids=["x", "y"])
    loaded = Panel.load(panel.save(tmp_path / "p.npz"))
    assert loaded.ids == panel.ids and loaded.sha256 == panel.sha256
    frame = panel.to_frame()
    assert list(frame.columns) == ["series", "month", "value"] and len(frame) == 54
    assert frame["month"].iloc[0] == "2000-01"
    back = Panel.from_frame(frame.sample(frac=1.0, random_state=1))
    assert back.ids == ["x", "y"] and back.sha256 == panel.sha256


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"series": ["a", "a"], "month": ["2000-01", "2000-03"], "value": [1.0, 2.0]}),
     r"history of series 'a': missing month\(s\) 2000-02 before 2000-03 \(months must be consecutive"),
    (pd.DataFrame({"series": ["a", "a"], "month": ["2000-01", "2000-01"], "value": [1.0, 2.0]}),
     "series 'a': duplicate month 2000-01"),
    (pd.DataFrame({"series": ["b"] * 4, "month": ["2000-01", "2000-05", "2000-06", "2000-06"], "value": [1] * 4}),
     r"series 'b': missing month\(s\) 2000-02..2000-04 \(3 months\) before 2000-05 .*; 2 such place\(s\)"),
    (pd.DataFrame({"series": ["a"], "month": ["2000-01"]}), "missing"),
    (pd.DataFrame({"series": ["a", "a"], "month": ["2000-01", "2000-02"], "value": [1.0, np.nan]}),
     r"series 'a', month 2000-02: value 'nan' is not a positive number"),
    (pd.DataFrame({"series": ["b", "a", "a"], "month": ["2000-01", "2000-01", "2000-02"], "value": [5, 0, -3]}),
     r"series 'a', month 2000-01: value '0' is not a positive number \(2 such"),
    (pd.DataFrame({"series": ["a"], "month": ["2000-01"], "value": ["12 units"]}), "value '12 units'"),
])
def test_a_bad_history_table_is_refused(frame, message):
    with pytest.raises(ConfigError, match=message):
        Panel.from_frame(frame)


def test_a_history_is_held_to_the_domain_the_model_was_trained_on():
    frame = pd.DataFrame({"series": ["a", "a", "b", "b"], "month": ["2000-01", "2000-02"] * 2,
                          "value": [3.0, 0.0, 2.0, -1.5]})
    with pytest.raises(ConfigError, match=r"series 'b', month 2000-02: value '-1.5' is not a number of at least 0"):
        Panel.from_frame(frame, domain="nonnegative")
    panel = Panel.from_frame(frame, domain="real")
    assert panel.values.tolist() == [3.0, 0.0, 2.0, -1.5]
    with pytest.raises(ConfigError, match=r"series 'a', month 2000-02: value '0' is not a positive number \(2 such"):
        panel.check_domain("positive")
    panel.check_domain("real")
    with pytest.raises(ConfigError, match="value 'inf' is not a finite number"):
        Panel.from_frame(frame.assign(value=[1.0, np.inf, 1.0, 1.0]), domain="real")


def test_shards_are_stable_balanced_and_cover_new_series():
    ids = [f"series-{i}" for i in range(10)]
    parts = shards(ids, 4)
    assert len(parts) == 3 and sorted(len(p) for p in parts) == [3, 3, 4]
    assert sorted(i for p in parts for i in p) == list(range(10))
    assert shards(list(reversed(ids)), 4) == [[9 - i for i in reversed(p)] for p in parts], "by id, not by order"
    bounds = shard_bounds(ids, parts)
    for k, part in enumerate(parts):
        assert all(shard_for(ids[i], bounds) == k for i in part)
    assert 0 <= shard_for("never seen", bounds) < 3
    assert series_hash("a") == series_hash("a") != series_hash("b")
    assert shards(ids, 100) == [list(range(10))]


def test_a_table_put_together_from_parts_comes_back_in_the_panels_order():
    panel = panel_of(*(seasonal_series(30, seed=i) for i in range(3)), ids=["b", "c", "a"])
    table = pd.DataFrame({"series": ["a", "a", "c", "b", "b"], "month": ["1", "2", "1", "1", "2"]})
    ordered = panel.in_order(table)
    assert ordered["series"].tolist() == ["b", "b", "c", "a", "a"] and ordered["month"].tolist() == ["1", "2", "1",
                                                                                                    "1", "2"]
