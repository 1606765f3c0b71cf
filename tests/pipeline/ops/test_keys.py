import os
import threading

import pytest

from pipeline.errors import ConfigError
from pipeline.ops import keys


def test_the_environment_wins_then_a_file_then_one_made_once(state, monkeypatch, tmp_path):
    monkeypatch.setenv("X_KEY", "e" * 40)
    assert keys.secret("X_KEY", "x") == "e" * 40
    monkeypatch.delenv("X_KEY")
    (tmp_path / "given").write_text("f" * 40 + "\n")
    monkeypatch.setenv("X_KEY_FILE", str(tmp_path / "given"))
    assert keys.secret("X_KEY", "x") == "f" * 40
    monkeypatch.delenv("X_KEY_FILE")
    made = keys.secret("X_KEY", "x")
    path = keys.key_path("x")
    assert len(made) == 64 and path.read_text() == made and keys.secret("X_KEY", "x") == made
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o077 == 0


def test_processes_racing_for_the_first_secret_read_the_same_whole_one(state, monkeypatch):
    monkeypatch.delenv("Y_KEY", raising=False)
    found: list[str] = []
    threads = [threading.Thread(target=lambda: found.append(keys.secret("Y_KEY", "y"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and len(found[0]) == 64
    assert [p.name for p in keys.key_path("y").parent.iterdir()] == ["y"], "no draft left behind"


def test_a_short_secret_is_refused_naming_where_it_came_from(state, monkeypatch):
    monkeypatch.setenv("Z_KEY", "short")
    with pytest.raises(ConfigError, match="the secret from Z_KEY has 5 characters: at least 32"):
        keys.secret("Z_KEY", "z")
    assert not os.path.exists(keys.key_path("z"))
