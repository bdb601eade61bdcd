"""Foundations every other room may import: errors, typed warnings, configuration, units and
JSON helpers. Nothing here imports another TumorBoard module."""
