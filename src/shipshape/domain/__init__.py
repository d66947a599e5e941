"""The registry's own concepts: digests, names, references, manifests and their errors. Pure code, no I/O."""
