"""Shipshape: a self-hosted container registry that enforces the team's image rules."""

__version__ = "0.1.0"
