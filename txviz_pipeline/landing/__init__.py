"""The S3 landing zone: finding new objects and checking what landed."""
