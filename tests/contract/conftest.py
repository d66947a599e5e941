"""Real databases for the contract suites: a SQLite file per test, and a fresh PostgreSQL database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from shipshape.metadata import SqlMetadataStore, open_metadata_store
from shipshape.metadata.migrate import migrate

from ..s3_support import s3_store  # noqa: F401  (a fixture)

POSTGRES_URL_VARIABLE = "SHIPSHAPE_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Engine]:
    """An engine on the server `SHIPSHAPE_TEST_POSTGRES_URL` names, for creating and dropping databases."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        reason = (
            f"{POSTGRES_URL_VARIABLE} is not set: start a server with"
            f" `export {POSTGRES_URL_VARIABLE}=$(scripts/test-postgres start /tmp/shipshape-pg 55432)`"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def _create_postgres_database(server: Engine, template: str | None = None) -> str:
    name = f"shipshape_test_{uuid.uuid4().hex[:12]}"
    with server.connect() as connection:
        if template is not None:
            connection.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
        else:
            try:
                # A linguistic default collation, as production databases often have: byte-order listings
                # must not depend on it.
                connection.execute(
                    text(
                        f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
                        " LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
                    )
                )
            except DBAPIError:  # a server built without ICU
                connection.execute(text(f"CREATE DATABASE {name}"))
    return server.url.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(server: Engine, url: str) -> None:
    name = make_url(url).database
    with server.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def postgres_template(postgres_server: Engine) -> Iterator[str]:
    """A migrated PostgreSQL database to copy: copying is faster than migrating each test's database."""
    url = _create_postgres_database(postgres_server)
    try:
        migrate(url)
        yield make_url(url).database or ""
    finally:
        _drop_postgres_database(postgres_server, url)


@contextmanager
def _postgres_database(request: pytest.FixtureRequest, migrated: bool) -> Iterator[str]:
    server: Engine = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_template") if migrated else None
    url = _create_postgres_database(server, template)
    try:
        yield url
    finally:
        _drop_postgres_database(server, url)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database, new for each test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metadata.db'}"
        return
    with _postgres_database(request, migrated=False) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with the current schema, new for each test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'metadata.db'}"
        migrate(url)
        yield url
        return
    with _postgres_database(request, migrated=True) as url:
        yield url


@pytest.fixture
def postgres_migrated_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL database with the current schema, for behaviour only PostgreSQL can show (concurrent writers)."""
    with _postgres_database(request, migrated=True) as url:
        yield url


@pytest.fixture
async def metadata_store(migrated_url: str) -> AsyncIterator[SqlMetadataStore]:
    """A store on a fresh, migrated database."""
    store = open_metadata_store(migrated_url)
    try:
        yield store
    finally:
        await store.close()


def head_revision() -> str:
    """The newest migration, as Alembic sees the scripts (so a new migration does not break these tests)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import shipshape.metadata.migrate as migrations

    config = Config()
    config.set_main_option("script_location", str(migrations._SCRIPTS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head
