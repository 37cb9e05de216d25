"""Held-out evaluation: the estimators, per-image scores, outliers and sample quality."""
