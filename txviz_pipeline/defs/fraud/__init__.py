"""Dagster definitions for the learned fraud score."""
