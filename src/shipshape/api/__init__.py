"""HTTP interfaces: the OCI Distribution API, health and metrics."""
