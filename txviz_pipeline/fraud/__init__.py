"""The learned fraud score: features over history, training, export, and the model registry."""
