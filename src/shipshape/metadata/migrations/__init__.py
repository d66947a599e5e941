"""Alembic migrations of the metadata schema; `shipshape.metadata.migrate` applies them."""
