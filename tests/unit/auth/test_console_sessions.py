"""Console sessions: what a cookie proves, for how long, and that nothing else passes for one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from shipshape.auth.console_sessions import AUDIENCE, SESSION_LIFETIME, SessionCodec

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_cookie_names_the_member_the_password_and_a_form_token_until_it_expires(tmp_path: Path) -> None:
    codec = SessionCodec(tmp_path)
    cookie, issued = codec.issue("olive", "pw-1", NOW)
    read = codec.read(cookie, NOW + SESSION_LIFETIME - timedelta(seconds=1))
    assert read == issued
    assert read.username == "olive" and read.password_id == "pw-1" and len(read.csrf) >= 32
    assert codec.read(cookie, NOW + SESSION_LIFETIME) is None


def test_each_session_has_its_own_form_token(tmp_path: Path) -> None:
    codec = SessionCodec(tmp_path)
    assert codec.issue("olive", "pw", NOW)[1].csrf != codec.issue("olive", "pw", NOW)[1].csrf


def test_every_process_sharing_the_data_dir_reads_the_same_cookies(tmp_path: Path) -> None:
    cookie, issued = SessionCodec(tmp_path).issue("olive", "pw", NOW)
    assert SessionCodec(tmp_path).read(cookie, NOW) == issued
    assert SessionCodec(tmp_path / "elsewhere").read(cookie, NOW) is None


def test_a_token_signed_with_the_key_for_another_purpose_is_no_session(tmp_path: Path) -> None:
    codec = SessionCodec(tmp_path)
    notice = codec.sign("Promoted", NOW)
    assert codec.read(notice, NOW) is None
    key = (tmp_path / "console-session.key").read_bytes()
    claims = {"sub": "olive", "pwd": "pw", "csrf": "t", "exp": int((NOW + timedelta(hours=1)).timestamp())}
    assert codec.read(jwt.encode({**claims, "aud": "other"}, key, algorithm="HS256"), NOW) is None
    assert codec.read(jwt.encode({**claims, "aud": AUDIENCE}, None, algorithm="none"), NOW) is None
    assert codec.read(jwt.encode({**claims, "aud": AUDIENCE, "sub": ""}, key, algorithm="HS256"), NOW) is None
    assert codec.read("not a token", NOW) is None


def test_a_notice_is_read_once_signed_and_only_briefly(tmp_path: Path) -> None:
    codec = SessionCodec(tmp_path)
    notice = codec.sign("Promoted acme-stage/web:v1", NOW)
    assert codec.unsign(notice, NOW + timedelta(seconds=59)) == "Promoted acme-stage/web:v1"
    assert codec.unsign(notice, NOW + timedelta(seconds=60)) is None
    assert codec.unsign(notice[:-3], NOW) is None
