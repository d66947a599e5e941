"""The metadata store on SQL (SQLite or PostgreSQL): tables, queries, migrations and the `MetadataStore`."""

from shipshape.metadata.migrate import migrate
from shipshape.metadata.store import SqlMetadataStore, open_metadata_store

__all__ = ["SqlMetadataStore", "migrate", "open_metadata_store"]
