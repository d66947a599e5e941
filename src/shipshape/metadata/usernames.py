"""The one namespace of login names that members and credentials share, kept unique across their two tables."""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, bindparam, exists, select, text

from shipshape.domain.errors import Conflict
from shipshape.metadata.tables import credentials, members

# The first key of PostgreSQL's two-key advisory locks that guard usernames; the second is a hash of the name.
# (Two-key locks never collide with the one-key lock `migrate` takes.)
_LOCK_NAMESPACE = 0x5573_6572  # "User"
_LOCK = text("SELECT pg_advisory_xact_lock(:namespace, :key)")
_MEMBER_HAS = select(exists().where(members.c.username == bindparam("username")))
_CREDENTIAL_HAS = select(exists().where(credentials.c.username == bindparam("username")))


def claim(connection: Connection, username: str) -> None:
    """Raise `Conflict` if a member or a credential is called `username`; else hold it until the transaction ends.

    Each table's unique constraint covers only itself, so two transactions adding a member and a credential of the
    same name would both pass the check. On PostgreSQL a lock on the name makes the second wait for the first and
    then see its row; on SQLite the write lock every transaction takes already does.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK, {"namespace": _LOCK_NAMESPACE, "key": _lock_key(username)})
    for query, holder in ((_MEMBER_HAS, "a member"), (_CREDENTIAL_HAS, "a credential")):
        if connection.execute(query, {"username": username}).scalar_one():
            raise Conflict(
                f"username {username!r} is already taken by {holder}: members and credentials share one namespace"
                " of login names, so choose another name",
                detail={"username": username},
            )


def _lock_key(username: str) -> int:
    # Any stable 32-bit hash will do: two names sharing one only wait for each other.
    return int.from_bytes(hashlib.blake2b(username.encode(), digest_size=4).digest(), "big", signed=True)
