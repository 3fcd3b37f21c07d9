"""Pair commands: train, evaluate, predict."""
