"""Alerts: data-quality and fraud notifications published to the SNS alerts topic."""
