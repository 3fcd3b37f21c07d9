"""How a pair of questions is scored: the scorer seam and registry, pair features, the LightGBM re-rankers, thresholds and the likely-duplicate rule."""
