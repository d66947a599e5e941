"""Parsing and validating image manifests and indexes (OCI and Docker schema 2).

A parsed manifest keeps the exact bytes it came from: the registry serves them byte for byte and the digest is
always computed over them, never over a re-serialisation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shipshape.domain import media_types as mt
from shipshape.domain.digests import Digest
from shipshape.domain.errors import DigestInvalid, ManifestInvalid, ManifestTooLarge

MAX_MANIFEST_BYTES = 4 * 1024 * 1024


class Descriptor(BaseModel):
    """An OCI content descriptor: what a manifest says about a blob or another manifest."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    media_type: str = Field(alias="mediaType", min_length=1)
    digest: str
    size: int = Field(ge=0)
    artifact_type: str | None = Field(default=None, alias="artifactType")
    annotations: dict[str, str] | None = None
    platform: dict[str, Any] | None = None

    @field_validator("digest")
    @classmethod
    def _valid_digest(cls, value: str) -> str:
        try:
            Digest.parse(value)
        except DigestInvalid as error:
            raise ValueError(error.message) from None
        return value


class _Document(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_version: int = Field(alias="schemaVersion")
    media_type: str | None = Field(default=None, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


class ImageManifestDocument(_Document):
    config: Descriptor
    layers: list[Descriptor]


class IndexDocument(_Document):
    manifests: list[Descriptor]


@dataclass(frozen=True, slots=True)
class Manifest:
    """A validated manifest: its bytes, digest, media type and what it references."""

    payload: bytes
    digest: Digest
    media_type: str
    blobs: tuple[Descriptor, ...]  # config and layers of an image manifest
    children: tuple[Descriptor, ...]  # manifests of an index
    subject: Descriptor | None
    artifact_type: str | None  # as the referrers API reports it
    annotations: dict[str, str]

    @property
    def is_index(self) -> bool:
        return mt.is_index(self.media_type)


def parse_manifest(payload: bytes, content_type: str | None, algorithm: str = "sha256") -> Manifest:
    """Validate `payload` as a manifest sent with `content_type`; raise `ManifestInvalid` saying what is wrong."""
    if len(payload) > MAX_MANIFEST_BYTES:
        raise ManifestTooLarge(f"manifest is {len(payload)} bytes; the limit is {MAX_MANIFEST_BYTES} (4 MiB)")
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestInvalid(f"manifest is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    media_type = _media_type(raw, content_type)
    try:
        if mt.is_index(media_type):
            index = IndexDocument.model_validate(raw)
            _check_schema_version(index)
            blobs: tuple[Descriptor, ...] = ()
            children = tuple(index.manifests)
            document: _Document = index
            artifact_type = index.artifact_type
        else:
            image = ImageManifestDocument.model_validate(raw)
            _check_schema_version(image)
            blobs = (image.config, *image.layers)
            children = ()
            document = image
            # The referrers API reports the config's media type when the manifest names no artifactType.
            artifact_type = image.artifact_type or image.config.media_type
    except ValidationError as error:
        raise ManifestInvalid(f"manifest does not match {media_type}: {_first_problem(error)}") from None
    return Manifest(
        payload=payload,
        digest=Digest.of(payload, algorithm),
        media_type=media_type,
        blobs=blobs,
        children=children,
        subject=document.subject,
        artifact_type=artifact_type,
        annotations=dict(document.annotations or {}),
    )


def _media_type(raw: dict[str, Any], content_type: str | None) -> str:
    declared = raw.get("mediaType")
    header = (content_type or "").split(";", 1)[0].strip().lower() or None
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("manifest mediaType must be a string")
    if declared in (mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED) or header in (
        mt.DOCKER_SCHEMA1,
        mt.DOCKER_SCHEMA1_SIGNED,
    ):
        raise ManifestInvalid("Docker schema 1 manifests are not supported: push with a current client")
    if declared and header and header != declared and header not in ("application/json", "application/octet-stream"):
        raise ManifestInvalid(
            f"Content-Type {header!r} does not match the manifest's mediaType {declared!r}: send them alike"
        )
    media_type = declared or header
    if media_type is None or media_type not in mt.MANIFESTS:
        if media_type is None and "manifests" in raw:
            return mt.OCI_INDEX
        if media_type is None and "config" in raw:
            return mt.OCI_MANIFEST
        supported = ", ".join(sorted(mt.MANIFESTS))
        raise ManifestInvalid(f"unsupported manifest media type {media_type!r}: use one of {supported}")
    return media_type


def _check_schema_version(document: _Document) -> None:
    if document.schema_version != 2:
        raise ManifestInvalid(f"schemaVersion is {document.schema_version}; only 2 is supported")


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "document"
    return f"{where}: {first['msg']}"
