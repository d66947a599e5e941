"""Migrating at start-up, on SQLite and PostgreSQL: an empty database gets the whole schema, one at head is left
alone without loading Alembic at all, and the head the check compares with is Alembic's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from shipshape.metadata import migrate as migrate_module
from shipshape.metadata.migrate import head_revision, migrate


def version_of(url: str) -> list[str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def test_the_head_read_from_the_file_names_is_alembics() -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(migrate_module.__file__).parent / "migrations"))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_an_empty_database_is_brought_to_head(database_url: str) -> None:
    migrate(database_url)

    assert version_of(database_url) == [head_revision()]


def test_a_database_at_head_is_left_alone_without_loading_alembic(migrated_url: str) -> None:
    # In a fresh interpreter, as `shipshape serve` starts: after the check, no Alembic module is loaded.
    program = (
        "import sys\n"
        "from shipshape.metadata.migrate import migrate\n"
        f"migrate({migrated_url!r})\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert version_of(migrated_url) == [head_revision()]
