"""Serving: the local SPICE (DuckDB), the dashboard SQL shared with QuickSight, the dashboard."""
