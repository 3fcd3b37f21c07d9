"""The Siamese LSTM encoder: its shape (config), its input featurizer (inputs), the network, and the encoder that saves and loads them."""
