"""Settings of `shipshape serve`: where blobs live."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shipshape.app import open_blob_store
from shipshape.config import Settings, load_settings
from shipshape.storage.filesystem import FilesystemBlobStore
from shipshape.storage.s3 import S3BlobStore, S3Location


def test_blobs_live_in_the_data_dir_by_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.blob_dir == tmp_path
    assert isinstance(open_blob_store(settings), FilesystemBlobStore)


def test_a_file_url_names_another_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", blob_store=f"file://{tmp_path / 'blobs'}")
    assert settings.blob_dir == tmp_path / "blobs"


def test_an_s3_url_names_a_bucket_and_prefix(tmp_path: Path) -> None:
    settings = load_settings(None, {"data_dir": tmp_path, "blob_store": "s3://images/prod/registry",
                                    "s3_endpoint_url": "http://127.0.0.1:8333", "s3_region": "eu-west-1"})  # fmt: skip
    assert settings.blob_dir is None
    store = open_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    assert store.location == S3Location("images", "prod/registry", "http://127.0.0.1:8333", "eu-west-1")


@pytest.mark.parametrize("url", ["images", "http://images", "s3://", "file://", "s3:/images"])
def test_a_blob_store_url_of_another_form_is_refused_with_the_forms_accepted(url: str) -> None:
    with pytest.raises(ValidationError, match=r"file://DIR or s3://BUCKET\[/PREFIX\]"):
        Settings(blob_store=url)
