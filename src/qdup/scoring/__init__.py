"""How a pair of questions is scored: the scorer seam and registry (base), the cosine and re-ranking scorers (cosine, rerank), pair features, the LightGBM boosters and thresholds."""
