import numpy as np

from pipeline.data.table import DATE, NUMBER, Table


def table(values) -> Table:
    n = len(values)
    return Table(source="f.csv", columns={"date": "d", "value": "v", "series": "s", "title": ""},
                 rows=np.arange(2, n + 2, dtype=np.int32), series=np.zeros(n, dtype=np.int32),
                 months=np.arange(n, dtype=np.int32) + 24000, values=np.asarray(values, dtype=float), ids=["a"],
                 titles=["a"], problems=[{"row": 3, "column": "v", "message": "m", "series": 0}],
                 counts={"null": 1}, bad_series={0: 1})


def test_a_table_round_trips_through_its_file_and_its_digest_follows_the_data(tmp_path):
    saved = table([1.0, np.nan, 3.0])
    loaded = Table.load(saved.save(tmp_path / "t.npz"))
    assert loaded.problems == saved.problems and loaded.bad_series == {0: 1} and loaded.ids == ["a"]
    np.testing.assert_array_equal(loaded.values, saved.values)
    assert loaded.sha256 == saved.sha256 != table([1.0, np.nan, 4.0]).sha256


def test_the_text_rules_every_reader_applies():
    assert NUMBER.fullmatch("-1.5e3") and NUMBER.fullmatch(".5") and not NUMBER.fullmatch("1,200")
    assert DATE.fullmatch("2019-12").groups() == ("2019", "12", None) and DATE.fullmatch("2019-12-31T00:00")
    assert not DATE.fullmatch("12/2019")
