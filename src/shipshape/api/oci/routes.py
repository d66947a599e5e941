"""The `/v2/` route table. Repository names may contain slashes, so the name pattern is greedy and the
suffix decides; more specific routes come first."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.oci import blobs, listing, manifests, uploads

# `(?s:…)`: a name with a newline (%0a) still reaches this route, to be refused as NAME_INVALID, not as no endpoint.
NAME = "{name:(?s:.+)}"
DIGEST = "{digest:[^/]+}"


def add_routes(app: web.Application) -> None:
    router = app.router
    # aiohttp tries dynamic routes in order: the hottest (manifest and blob reads) go first.
    manifest = f"/v2/{NAME}/manifests/{{reference:[^/]+}}"
    router.add_get(manifest, manifests.get_manifest, name="manifest_get")
    router.add_put(manifest, manifests.put_manifest, name="manifest_put")
    router.add_delete(manifest, manifests.delete_manifest, name="manifest_delete")
    router.add_get("/v2/", listing.api_base, name="base")
    router.add_get("/v2/_catalog", listing.catalog, name="catalog")
    router.add_get(f"/v2/{NAME}/tags/list", listing.list_tags, name="tags")
    router.add_get(f"/v2/{NAME}/referrers/{DIGEST}", listing.referrers, name="referrers")

    upload = f"/v2/{NAME}/blobs/uploads/{{upload_id:[^/]+}}"
    router.add_post(f"/v2/{NAME}/blobs/uploads/", uploads.start_upload, name="upload_start")
    router.add_patch(upload, uploads.patch_upload, name="upload_patch")
    router.add_put(upload, uploads.finish_upload, name="upload_finish")
    router.add_get(upload, uploads.upload_status, name="upload_status", allow_head=False)
    router.add_delete(upload, uploads.cancel_upload, name="upload_cancel")

    blob = f"/v2/{NAME}/blobs/{DIGEST}"
    router.add_get(blob, blobs.get_blob, name="blob_get", allow_head=False)
    router.add_head(blob, blobs.head_blob, name="blob_head")
    router.add_delete(blob, blobs.delete_blob, name="blob_delete")
