"""Judging a model: pair figures and metrics, plots, and the search threshold's calibration on validation queries."""
