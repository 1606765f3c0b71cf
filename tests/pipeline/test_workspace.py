from pathlib import Path

from pipeline.workspace import RunPaths, published_forecasts


def test_every_file_of_a_run_has_one_name_in_its_folder(tmp_path):
    paths = RunPaths(tmp_path)
    named = [getattr(paths, name) for name in dir(RunPaths)
             if isinstance(getattr(RunPaths, name), property)]
    named += [paths.fit(0, "1959-12"), paths.fit(1, "1959-12"), paths.shard_model(0), paths.figure("loss_curves")]
    assert all(isinstance(p, Path) and p.is_relative_to(tmp_path) for p in named)
    assert len(set(named)) == len(named), "two steps would write the same file"
    assert paths.fit(2, "1960-01") == tmp_path / "fits" / "shard_2_1960-01.json"
    assert paths.shard_model(3).parent == paths.model


def test_a_run_keys_folder_is_in_the_state_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    assert RunPaths.of("dag/manual__1").root == tmp_path.resolve() / "runs" / "dag_manual__1"
    assert published_forecasts("exp") == tmp_path.resolve() / "forecasts" / "exp"
