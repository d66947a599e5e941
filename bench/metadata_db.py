"""Shipshape's metadata on PostgreSQL for a benchmark run (`run.py --postgres`): one throwaway cluster
(scripts/test-postgres, on a free loopback port), one database per Shipshape server.

The cluster is the tests' one: fsync and synchronous_commit are off. Distribution keeps its metadata in files it
does not fsync either, so neither side pays for durability here; a production PostgreSQL with synchronous commits
costs each transaction a WAL flush.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
from servers import free_port

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "test-postgres"


class Cluster:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.url: str | None = None

    def start(self) -> None:
        # The run's temp dir is private (0700); the server runs as the `postgres` user, which must traverse it.
        self.directory.parent.chmod(0o711)
        self.url = subprocess.run(
            [str(SCRIPT), "start", str(self.directory), str(free_port())], check=True, capture_output=True, text=True
        ).stdout.strip()

    def database(self, label: str) -> str:
        """The URL of a new, empty database for the server `label`."""
        assert self.url is not None, "start the cluster first"
        name = "bench_" + label.replace("-", "_")  # the cluster already holds `shipshape`
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"{self.url.rsplit('/', 1)[0]}/{name}"

    def stop(self) -> None:
        if self.url is not None:
            subprocess.run([str(SCRIPT), "stop", str(self.directory)], check=False, capture_output=True)
            self.url = None
