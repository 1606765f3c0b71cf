"""A real PostgreSQL server for a test: a throwaway cluster (Debian's postgresql package, installed when missing, as
``scripts/services.sh`` does) on a free loopback port, trusted on loopback, removed at the end."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.pipeline.ops.test_faults import free_port


def pg_bin() -> Path:
    """The newest installed PostgreSQL's programs (installing the package first when there is none)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not found:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run("apt-get update -qq && apt-get install -y -qq postgresql", shell=True, check=True, env=env,
                       capture_output=True, timeout=900)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    return Path(found[-1])


@contextmanager
def postgres_server(database: str = "forecasts") -> Iterator[str]:
    """Yields the SQLAlchemy URL of ``database`` on a server of its own."""
    root = os.geteuid() == 0
    as_owner = ["runuser", "-u", "postgres", "--"] if root else []
    user = "postgres" if root else os.environ.get("USER") or "postgres"
    folder = Path(tempfile.mkdtemp(prefix="lstm-pgtest-", dir="/var/tmp"))  # reachable by the postgres user
    folder.chmod(0o755)
    data = folder / "data"
    if root:
        shutil.chown(folder, "postgres")
    port, pg = free_port(), pg_bin()
    try:
        subprocess.run([*as_owner, str(pg / "initdb"), "-D", str(data), "-U", user, "-A", "trust"], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([*as_owner, str(pg / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([*as_owner, str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database],
                       check=True, capture_output=True, timeout=60)
        yield f"postgresql+psycopg2://{user}@127.0.0.1:{port}/{database}"
    finally:
        subprocess.run([*as_owner, str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
