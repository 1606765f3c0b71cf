"""The typed fit jobs: through XCom and back, refused when they are not one, and the shard groups of a large plan."""

import pytest

from pipeline.errors import ConfigError
from pipeline.steps.jobs import FitJob, shard_groups


def test_a_job_crosses_xcom_as_json_and_comes_back_the_same():
    job = FitJob(shards=(3, 4), origin="c2019-06", train_end="2019-06", folds=(0,), final=False)
    assert job.to_json() == {"shards": [3, 4], "origin": "c2019-06", "train_end": "2019-06", "folds": [0],
                             "final": False, "label": "shards 3-4, to 2019-06"}
    assert FitJob.of(job.to_json()) == job and FitJob.of(job) is job
    with pytest.raises(ConfigError, match=r"not a fit job: unknown keys \['shard'\], missing \['shards'\]"):
        FitJob.of({"shard": 1, "origin": "x", "train_end": "2019-06", "folds": [], "final": True})


@pytest.mark.parametrize("shards, origins, limit", [(1, 2, 1024), (5000, 3, 1024), (1024, 1, 1024), (7, 3, 7),
                                                    (1_000_000, 4, 1024), (0, 2, 10)])
def test_shard_groups_cover_every_shard_once_within_the_limit(shards, origins, limit):
    groups = shard_groups(shards, origins, limit)
    assert [k for group in groups for k in group] == list(range(shards))
    assert len(groups) * origins <= limit
    if shards * origins <= limit:
        assert all(len(group) == 1 for group in groups), "one shard a task while they fit"


def test_more_origins_than_tasks_is_refused():
    with pytest.raises(ConfigError, match="25 training origins need at least 25 mapped tasks"):
        shard_groups(10, 25, 24)



def test_a_part_crosses_xcom_as_json():
    from pipeline.steps.jobs import Part

    part = Part(shards=(0, 1, 2))
    assert part.to_json() == {"shards": [0, 1, 2], "label": "shards 0-2"} and part.key == "00000"
    assert Part.of(part.to_json()) == part
    with pytest.raises(ConfigError, match="not a part of the panel"):
        Part.of({"shard": 1})


def test_the_parts_of_a_step_must_have_seen_one_champion():
    from pipeline.errors import ChampionMovedError
    from pipeline.steps.jobs import one_champion

    assert one_champion(["3", "3"], "scored") == "3" and one_champion([], "scored") is None
    assert one_champion([None, None], "monitored") is None
    with pytest.raises(ChampionMovedError, match=r"while it was monitored \(parts of no champion, v2\)"):
        one_champion([None, "2"], "monitored")
