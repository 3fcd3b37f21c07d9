"""Training models: the encoder training loop and its shared steps, losses, recipes, distillation, the scorer's fitting, Keras import."""
