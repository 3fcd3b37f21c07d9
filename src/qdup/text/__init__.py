"""Text as the models read it: the word vocabulary and tokenizer, and the hashed lexical rows (char n-grams, words, numbers with IDF)."""
