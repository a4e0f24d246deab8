"""Building and measuring the crisis classifier: data sets, training, evaluation (not loaded by the server)."""
