"""Serving: the local SPICE, the QuickSight refresh and the dashboards."""
