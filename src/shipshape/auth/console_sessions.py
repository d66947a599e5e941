"""The web console's sessions: a signed cookie naming the member, the password it was opened with, and a CSRF token.

A session is stateless, like a bearer token: an HS256 JWT signed with a key of its own in the data dir (shared by
every process of a deployment, as the token signing key is). It is trusted only together with the store: each
request looks the member up again, and a session whose password id is no longer the member's (the password was
changed, or the member removed and added again) is over. So a password change ends every session at once; signing
out ends the browser's own (its cookie is dropped), and a stolen cookie lives at most `SESSION_LIFETIME`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jwt

from shipshape.auth import key_files

KEY_FILE_NAME = "console-session.key"
ALGORITHM = "HS256"
AUDIENCE = "shipshape-console"
SESSION_LIFETIME = timedelta(hours=12)
_CSRF_BYTES = 24


@dataclass(frozen=True, slots=True)
class Session:
    username: str
    password_id: str  # the member's password when the session began
    csrf: str  # what every form of this session must send back
    expires_at: datetime


class SessionCodec:
    """Issue and read session cookies; the key is read from (or created in) `data_dir`."""

    def __init__(self, data_dir: Path, lifetime: timedelta = SESSION_LIFETIME) -> None:
        self._key = key_files.load_or_create_key(
            data_dir / KEY_FILE_NAME, "console session key", "everyone signed in to the console is signed out"
        )
        self.lifetime = lifetime

    def issue(self, username: str, password_id: str, now: datetime) -> tuple[str, Session]:
        session = Session(username, password_id, secrets.token_urlsafe(_CSRF_BYTES), now + self.lifetime)
        claims = {
            "sub": username,
            "pwd": password_id,
            "csrf": session.csrf,
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int(session.expires_at.timestamp()),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), session

    def read(self, cookie: str, now: datetime) -> Session | None:
        """The session `cookie` holds, or None if it is forged, damaged or expired at `now`."""
        try:
            claims = jwt.decode(
                cookie,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"require": ["sub", "pwd", "csrf", "exp"], "verify_exp": False},
            )
        except (jwt.InvalidTokenError, ValueError):
            return None
        expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
        if expires_at <= now:
            return None
        fields = (claims["sub"], claims["pwd"], claims["csrf"])
        if not all(isinstance(value, str) and value for value in fields):
            return None
        return Session(str(claims["sub"]), str(claims["pwd"]), str(claims["csrf"]), expires_at)

    def sign(self, text: str, now: datetime, seconds: int = 60) -> str:
        """A short-lived signed message (the notice shown once after a redirect)."""
        return jwt.encode(
            {"msg": text, "aud": f"{AUDIENCE}-notice", "exp": int(now.timestamp()) + seconds},
            self._key,
            algorithm=ALGORITHM,
        )

    def unsign(self, value: str, now: datetime) -> str | None:
        try:
            claims = jwt.decode(
                value, self._key, algorithms=[ALGORITHM], audience=f"{AUDIENCE}-notice", options={"verify_exp": False}
            )
        except (jwt.InvalidTokenError, ValueError):
            return None
        if int(claims.get("exp", 0)) <= now.timestamp() or not isinstance(claims.get("msg"), str):
            return None
        return str(claims["msg"])
