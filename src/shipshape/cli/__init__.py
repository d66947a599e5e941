"""The `shipshape` command."""
