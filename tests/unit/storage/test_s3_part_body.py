"""A multipart upload's part body: the request's chunks read as one seekable file, as botocore reads it (a checksum
pass, a seek back, the request), whatever the read sizes."""

from __future__ import annotations

import io

import pytest

from shipshape.storage.s3 import _PartBody

CHUNKS = [b"a" * 7, b"bc", b"d" * 65_536, b"e"]
WHOLE = b"".join(CHUNKS)


@pytest.mark.parametrize("size", [1, 3, 8192, 65_537, 1 << 20])
def test_reads_of_any_size_give_the_chunks_joined(size: int) -> None:
    body = io.BufferedReader(_PartBody(list(CHUNKS)))
    read = b"".join(iter(lambda: body.read(size), b""))
    assert read == WHOLE


def test_seek_back_and_read_again_and_seek_from_the_end() -> None:
    body = io.BufferedReader(_PartBody(list(CHUNKS)))
    assert body.read() == WHOLE
    assert body.seek(0) == 0 and body.read() == WHOLE
    assert body.seek(8) == 8 and body.read(3) == WHOLE[8:11]
    assert body.seek(-2, io.SEEK_END) == len(WHOLE) - 2 and body.read() == WHOLE[-2:]
    assert body.tell() == len(WHOLE) and body.read() == b""
