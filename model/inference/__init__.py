"""Inference: model inputs from studies and visit tables, predictions, attribution maps."""
