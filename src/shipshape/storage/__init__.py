"""Byte drivers behind the `BlobStore` port: the filesystem (default) and S3 (imported only when configured: its
client library costs ~15 MB per process)."""


class BlobStoreUnavailable(RuntimeError):
    """The configured store cannot be reached or used."""
