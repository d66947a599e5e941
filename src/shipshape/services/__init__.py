"""Use cases of the registry: uploads, blobs, manifests, tags, referrers."""
