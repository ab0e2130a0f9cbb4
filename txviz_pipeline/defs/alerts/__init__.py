"""Dagster definitions for the alerts stage."""
