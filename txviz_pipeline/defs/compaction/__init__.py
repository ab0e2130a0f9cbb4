"""Dagster definitions for the compaction stage."""
