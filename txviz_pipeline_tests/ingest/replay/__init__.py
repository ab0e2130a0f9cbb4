"""Tests of txviz_pipeline.ingest.replay, one file per module."""
