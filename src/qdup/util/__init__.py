"""Helpers every tower may use: atomic writes, progress lines, thread settings. Imports nothing of qdup but errors."""
