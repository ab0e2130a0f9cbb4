"""Ingest: the Sparkov source CSV (generator, validation, NDJSON conversion) and its replay."""
