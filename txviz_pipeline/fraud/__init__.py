"""The fraud model: training data from card histories, the model, its export to the Lambda."""
