"""Input files and their checks: labelled question pairs, question corpora, the reference split, the rule for a valid question."""
