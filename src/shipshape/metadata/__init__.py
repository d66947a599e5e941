"""The metadata store on SQL (SQLite or PostgreSQL): tables, queries, migrations and the `MetadataStore`.

`migrate` lives in `shipshape.metadata.migrate` and is imported only where migrations run, so that server worker
processes do not load Alembic.
"""

from shipshape.metadata.store import SqlMetadataStore, open_metadata_store

__all__ = ["SqlMetadataStore", "open_metadata_store"]
