"""Evaluation metrics and report tables."""
