"""Byte storage drivers for blobs and uploads in progress."""
