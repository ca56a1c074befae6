"""Pulumi component resources, one per file."""
