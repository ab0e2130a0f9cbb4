"""Dagster definitions for the serving stage."""
