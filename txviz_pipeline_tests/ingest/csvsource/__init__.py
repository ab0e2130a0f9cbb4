"""Tests of txviz_pipeline.ingest.csvsource."""
