"""Test data: a generator of Kaggle "Sparkov" fraudTrain.csv-format files (:mod:`.sparkov`)."""
