"""The encoder seam (base.py: protocol and registry) and its architectures: the LSTM (lstm/) and pretrained transformers."""
