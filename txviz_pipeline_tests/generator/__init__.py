"""Tests of txviz_pipeline.generator."""
