"""The S3 blob store: blobs and uploads as objects of one bucket (AWS S3, SeaweedFS, MinIO, Ceph RGW …).

Layout under the bucket's optional prefix::

    blobs/sha256/9f/9f86d081884c7d65…        a committed blob, named by its digest
    uploads/3f2a9c1e…/created               an empty marker: the upload exists
    uploads/3f2a9c1e…/00000000000000000000  the bytes of one append (one request), named by their start offset
    uploads/3f2a9c1e…/00000000000010485760  the next append's bytes …

An append streams its request body as a multipart upload of parts of about `PART_SIZE` (a small one: one PUT), so
no request holds more than one part in memory, and every append is a whole object when the request ends: any
process can then read the upload back (to rebuild a hash state) or continue it. Committing copies the upload into
the blob's key on the server (one segment: `CopyObject`, or `UploadPartCopy` ranges past 5 GiB) or, for an upload
of several segments, streams them into one multipart upload; the segments are then deleted by the caller's cancel.
"""

from __future__ import annotations

import asyncio
import bisect
import io
import itertools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from shipshape.domain.digests import Digest
from shipshape.ports import StoredBytes
from shipshape.storage import BlobStoreUnavailable

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

PART_SIZE = 10 * 1024 * 1024  # as CNCF Distribution's S3 driver: few requests, little memory per upload
MAX_COPY_SIZE = 5 * 1024**3  # the largest object CopyObject copies; past it, UploadPartCopy in ranges
COPY_PART_SIZE = 1024**3
READ_CHUNK = 1024 * 1024
REDIRECT_LIFETIME = 300  # seconds a presigned GET URL stays valid
CREATED = "created"
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where the store lives: `s3://BUCKET[/PREFIX]`, with an endpoint for stores other than AWS."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None

    @classmethod
    def parse(cls, url: str, endpoint_url: str | None = None, region: str | None = None) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"an S3 blob store is s3://BUCKET or s3://BUCKET/PREFIX, not {url!r}")
        return cls(parts.netloc, parts.path.strip("/"), endpoint_url, region)


@dataclass(frozen=True, slots=True)
class S3Blob:
    """A committed blob in the bucket: streamed through the registry, or fetched from `redirect_url`."""

    store: S3BlobStore
    key: str
    size: int
    redirect_url: str | None = None

    async def read(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes `start` up to (not including) `end`."""
        stop = self.size if end is None else end
        if stop <= start:
            return
        async for chunk in self.store.read_object(self.key, f"bytes={start}-{stop - 1}"):
            yield chunk


class _PartBody(io.RawIOBase):
    """Buffered chunks read as one seekable file, never joined: botocore reads a part's body more than once (its
    checksum, then the request), in small reads, so a part is in memory once, as the chunks that arrived."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks
        self._starts = list(itertools.accumulate((len(chunk) for chunk in chunks), initial=0))
        self._size = self._starts[-1]
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._position >= self._size:
            return 0
        index = bisect.bisect_right(self._starts, self._position) - 1
        chunk, offset = self._chunks[index], self._position - self._starts[index]  # no chunk is empty
        with memoryview(buffer) as view, memoryview(chunk) as source:
            count = min(len(view), len(chunk) - offset)
            view[:count] = source[offset : offset + count]
        self._position += count
        return count


class S3UploadWriter:
    """One append: the bytes of one request, sent as parts of a multipart upload once they outgrow one part."""

    def __init__(self, client: S3Client, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        # The request's chunks as they came, sent as a part without being joined: one copy of a part's bytes in
        # memory, where a growing buffer sliced into parts held three.
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered >= PART_SIZE:
            await self._send_part(*self._take_part())  # PART_SIZE or up to a chunk more: parts need not be equal

    async def close(self) -> None:
        """Publish what was written as one object (what a broken request sent is kept, as a file's would be)."""
        if self._upload_id is None:
            if self._buffered:
                await self._client.put_object(Bucket=self._bucket, Key=self._key, Body=self._take())
            return
        if self._buffered:
            await self._send_part(*self._take_part())
        await self._client.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )

    async def abort(self) -> None:
        """Give up: no object, and no parts left behind."""
        if self._upload_id is not None:
            await self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
            self._upload_id = None
        self._chunks, self._buffered = [], 0

    def _take(self) -> bytes:
        """What is buffered, as one bytes object (a small object's); the buffer is empty afterwards."""
        taken = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return taken

    def _take_part(self) -> tuple[io.BufferedReader[_PartBody], int]:
        """What is buffered, as a part's body and its size; the buffer is empty afterwards."""
        part, size = io.BufferedReader(_PartBody(self._chunks)), self._buffered
        self._chunks, self._buffered = [], 0
        return part, size

    async def _send_part(self, body: io.BufferedReader[_PartBody], size: int) -> None:
        if self._upload_id is None:
            started = await self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        sent = await self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
            ContentLength=size,
        )
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})


class S3BlobStore:
    """Blobs and uploads in an S3 bucket; the client opens on first use and closes with `close`."""

    def __init__(self, location: S3Location, redirect: bool = False) -> None:
        self._location = location
        self._prefix = f"{location.prefix}/" if location.prefix else ""
        self._redirect = redirect
        self._client: S3Client | None = None
        self._exits = AsyncExitStack()
        self._opening = asyncio.Lock()

    @property
    def location(self) -> S3Location:
        return self._location

    @property
    def bucket(self) -> str:
        return self._location.bucket

    async def client(self) -> S3Client:
        if self._client is None:
            async with self._opening:
                if self._client is None:
                    config = AioConfig(max_pool_connections=64, retries={"max_attempts": 3, "mode": "standard"})
                    creating = get_session().create_client(
                        "s3",
                        endpoint_url=self._location.endpoint_url,
                        region_name=self._location.region,
                        config=config,
                    )
                    self._client = await self._exits.enter_async_context(creating)
        return self._client

    async def open(self) -> None:
        """Connect, and check that the bucket can be used (a clear error at start rather than at the first push)."""
        try:
            client = await self.client()
            await client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError, OSError) as error:
            await self.close()
            where = self._location.endpoint_url or "AWS"
            raise BlobStoreUnavailable(
                f"the S3 bucket {self.bucket} on {where} cannot be used ({error}): create it, or check the endpoint"
                " (--s3-endpoint-url), the region and the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
            ) from error

    async def close(self) -> None:
        await self._exits.aclose()
        self._client = None

    def blob_key(self, digest: Digest) -> str:
        return f"{self._prefix}blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"

    def _upload_prefix(self, upload_id: str) -> str:
        return f"{self._prefix}uploads/{upload_id}/"

    async def start_upload(self, upload_id: str) -> None:
        client = await self.client()
        await client.put_object(Bucket=self.bucket, Key=self._upload_prefix(upload_id) + CREATED, Body=b"")

    async def append_to_upload(self, upload_id: str, size: int | None = None) -> S3UploadWriter:
        if size is None:
            size = await self.upload_size(upload_id)
        key = f"{self._upload_prefix(upload_id)}{size:020d}"
        return S3UploadWriter(await self.client(), self.bucket, key)

    async def upload_size(self, upload_id: str) -> int:
        return sum(size for _, size in await self._segments(upload_id))

    async def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        for key, _ in await self._segments(upload_id):
            async for chunk in self.read_object(key):
                yield chunk

    async def seal_upload(self, upload_id: str) -> None:
        """Nothing to do: each append is a durable object once its request ends."""

    async def commit_upload(self, upload_id: str, digest: Digest) -> None:
        target = self.blob_key(digest)
        if await self._size_of(target) is not None:
            return  # identical content is stored once
        segments = await self._segments(upload_id)
        client = await self.client()
        if not segments:
            await client.put_object(Bucket=self.bucket, Key=target, Body=b"")
        elif len(segments) == 1:
            await self._copy(segments[0][0], segments[0][1], target)
        else:
            await self._concatenate(segments, target)
        await self.cancel_upload(upload_id)  # the upload is now the blob, as a file would be after its rename

    async def cancel_upload(self, upload_id: str) -> None:
        client = await self.client()
        prefix = self._upload_prefix(upload_id)
        keys = [key async for batch in self._list(prefix) for key, _, _ in batch]
        for start in range(0, len(keys), 1000):
            objects: Any = [{"Key": key} for key in keys[start : start + 1000]]
            await client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        # Appends cut short by a crash leave multipart uploads that no object shows.
        async for key, multipart_id, _ in self._multipart_uploads(prefix):
            await self._abort(key, multipart_id)

    async def stat(self, digest: Digest) -> int | None:
        return await self._size_of(self.blob_key(digest))

    async def open_blob(self, digest: Digest) -> S3Blob:
        key = self.blob_key(digest)
        size = await self._size_of(key)
        if size is None:
            raise FileNotFoundError(f"blob {digest} is not in bucket {self.bucket}")
        url = None
        if self._redirect:
            client = await self.client()
            params: Any = {"Bucket": self.bucket, "Key": key}
            url = await client.generate_presigned_url("get_object", Params=params, ExpiresIn=REDIRECT_LIFETIME)
        return S3Blob(self, key, size, url)

    async def delete_blob(self, digest: Digest) -> None:
        client = await self.client()
        await client.delete_object(Bucket=self.bucket, Key=self.blob_key(digest))

    async def list_blobs(self) -> AsyncIterator[list[StoredBytes]]:
        root = f"{self._prefix}blobs/"
        async for batch in self._list(root):
            found = []
            for key, size, modified in batch:
                algorithm, _, rest = key.removeprefix(root).partition("/")
                found.append(StoredBytes(f"{algorithm}:{rest.rpartition('/')[2]}", size, modified))
            yield found

    async def list_uploads(self) -> AsyncIterator[list[StoredBytes]]:
        """Each upload once: its size, and when it last changed (objects, or multipart uploads left by a crash)."""
        root = f"{self._prefix}uploads/"
        uploads: dict[str, tuple[int, datetime]] = {}

        def seen(key: str, size: int, at: datetime) -> None:
            upload_id = key.removeprefix(root).partition("/")[0]
            known_size, known_at = uploads.get(upload_id, (0, at))
            uploads[upload_id] = (known_size + size, max(known_at, at))

        async for batch in self._list(root):
            for key, size, modified in batch:
                seen(key, size, modified)
        async for key, _, initiated in self._multipart_uploads(root):
            seen(key, 0, initiated)
        yield [StoredBytes(upload_id, size, at) for upload_id, (size, at) in sorted(uploads.items())]

    async def read_object(self, key: str, byte_range: str | None = None) -> AsyncIterator[bytes]:
        client = await self.client()
        try:
            if byte_range is None:
                response = await client.get_object(Bucket=self.bucket, Key=key)
            else:
                response = await client.get_object(Bucket=self.bucket, Key=key, Range=byte_range)
        except ClientError as error:
            if _is_missing(error):
                raise FileNotFoundError(f"{key} is not in bucket {self.bucket}") from None
            raise
        async with response["Body"] as body:
            while chunk := await body.read(READ_CHUNK):
                yield chunk

    async def _segments(self, upload_id: str) -> list[tuple[str, int]]:
        """The upload's appends in order, as (key, size); raises `FileNotFoundError` when there is no upload."""
        prefix = self._upload_prefix(upload_id)
        found = [(key, size) async for batch in self._list(prefix) for key, size, _ in batch]
        if not found:
            raise FileNotFoundError(f"upload {upload_id} not found")
        return sorted((key, size) for key, size in found if not key.endswith(CREATED))

    async def _size_of(self, key: str) -> int | None:
        client = await self.client()
        try:
            head = await client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _is_missing(error):
                return None
            raise
        return int(head["ContentLength"])

    async def _copy(self, source: str, size: int, target: str) -> None:
        client = await self.client()
        copy_source: Any = {"Bucket": self.bucket, "Key": source}
        if size <= MAX_COPY_SIZE:
            await client.copy_object(Bucket=self.bucket, Key=target, CopySource=copy_source)
            return
        started = await client.create_multipart_upload(Bucket=self.bucket, Key=target)
        multipart_id = started["UploadId"]
        parts: list[CompletedPartTypeDef] = []
        try:
            for number, offset in enumerate(range(0, size, COPY_PART_SIZE), start=1):
                last = min(offset + COPY_PART_SIZE, size) - 1
                copied = await client.upload_part_copy(
                    Bucket=self.bucket, Key=target, UploadId=multipart_id, PartNumber=number,
                    CopySource=copy_source, CopySourceRange=f"bytes={offset}-{last}",
                )  # fmt: skip
                parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
            await client.complete_multipart_upload(
                Bucket=self.bucket, Key=target, UploadId=multipart_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            await self._abort(target, multipart_id)
            raise

    async def _concatenate(self, segments: list[tuple[str, int]], target: str) -> None:
        writer = S3UploadWriter(await self.client(), self.bucket, target)
        try:
            for key, _ in segments:
                async for chunk in self.read_object(key):
                    await writer.write(chunk)
            await writer.close()
        except BaseException:
            await writer.abort()  # a multipart upload under blobs/ would be found by nothing
            raise

    async def _abort(self, key: str, multipart_id: str) -> None:
        client = await self.client()
        try:
            await client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=multipart_id)
        except ClientError as error:
            if not _is_missing(error):
                raise

    async def _list(self, prefix: str) -> AsyncIterator[list[tuple[str, int, datetime]]]:
        """(key, size, last modified) of the objects under `prefix`, a page at a time."""
        client = await self.client()
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            contents = page.get("Contents", [])
            if contents:
                yield [(item["Key"], int(item["Size"]), item["LastModified"]) for item in contents]

    async def _multipart_uploads(self, prefix: str) -> AsyncIterator[tuple[str, str, datetime]]:
        """(key, upload id, initiated) of the multipart uploads in progress under `prefix`."""
        client = await self.client()
        paginator = client.get_paginator("list_multipart_uploads")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                yield upload["Key"], upload["UploadId"], upload["Initiated"]


def _is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code", "")) in _MISSING
