"""Dagster definitions for the landing stage."""
