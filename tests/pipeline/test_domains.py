import numpy as np
import pytest

from pipeline import domains


@pytest.mark.parametrize("values, setting, kind", [
    ([3.0, 1.0, 2.0], "auto", "positive"),
    ([3.0, 0.0, 2.0], "auto", "nonnegative"),
    ([3.0, -0.4, 2.0], "auto", "real"),
    ([3.0, 1.0, 2.0], "real", "real"),  # may turn negative: never read in logs
    ([3.0, 1.0, 2.0], "nonnegative", "positive"),  # no zero yet: logs keep it above zero all the same
])
def test_a_series_kind_comes_from_the_setting_and_its_values(values, setting, kind):
    assert domains.kind(np.array(values), setting) == kind


def test_a_panels_domain_is_its_widest_kind_or_the_declared_one():
    panel = [np.array([1.0, 2.0]), np.array([0.0, 2.0])]
    assert domains.of_panel(panel) == "nonnegative" and domains.widest([]) == "positive"
    assert domains.of_panel(panel, "real") == "real"
    assert domains.of_panel([*panel, np.array([-1.0])]) == "real"


def test_outside_a_domain_and_floors():
    values = np.array([-1.0, 0.0, 2.0])
    assert domains.outside(values, "positive").tolist() == [True, True, False]
    assert domains.outside(values, "nonnegative").tolist() == [True, False, False]
    assert not domains.outside(values, "real").any() and not domains.outside(values, "auto").any()
    floored = domains.floor(np.array([[-1.0, 2.0], [-1.0, 2.0]]), np.array(["nonnegative", "real"], dtype=object))
    assert floored.tolist() == [[0.0, 2.0], [-1.0, 2.0]]
