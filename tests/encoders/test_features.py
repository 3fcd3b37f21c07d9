import subprocess
import sys

import torch

import qdup
from qdup.encoders.lstm.inputs import Featurizer, ngram_buckets
from qdup.encoders.lstm.network import ModelConfig, SiameseEncoder


def test_ngram_buckets_are_stable_across_processes():
    here = ngram_buckets("python", 20000)
    code = "from qdup.encoders.lstm.inputs import ngram_buckets; print(list(ngram_buckets('python', 20000)))"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert list(here) == eval(there)
    assert all(1 <= b <= 20000 for b in here)


def test_misspelling_shares_most_ngrams():
    right, wrong, other = (set(ngram_buckets(w, 1 << 20)) for w in ("python", "pyhton", "banana"))
    assert len(right & wrong) > len(right & other)
    assert len(right & wrong) >= 2  # "<py" and "on>": the misspelling keeps both ends


def test_collate_offsets_cover_real_tokens_only():
    vocab = qdup.Vocabulary.build(["how do i learn python"])
    featurizer = Featurizer(vocab, max_length=10, buckets=100)
    batch = featurizer.batch(["how do i", "learn"])
    assert batch.ids.shape == (2, 3) and batch.lengths.tolist() == [3, 1]
    assert batch.offsets.shape == (4,)  # 3 + 1 real tokens, no padding slots
    expected = [b for word in ("how", "do", "i", "learn") for b in ngram_buckets(word, 100)]
    assert batch.ngrams.tolist() == expected


def make_encoder(**options):
    torch.manual_seed(0)
    return SiameseEncoder(ModelConfig(vocab_size=50, dim=8, **options)).eval()


def test_every_option_keeps_vectors_independent_of_the_batch():
    vocab = qdup.Vocabulary.build(["a b c d e f g h i j k l m n o p"])
    for options in ({}, {"bidirectional": True, "hidden": 6}, {"pooling": "mean_max"},
                    {"ngram_buckets": 64, "bidirectional": True}):
        encoder = make_encoder(**options)
        featurizer = Featurizer(vocab, 64, options.get("ngram_buckets", 0))
        with torch.no_grad():
            alone = encoder(featurizer.batch(["c a b"]))
            beside = encoder(featurizer.batch(["a b c d e f g h i j k l m n o p " * 4, "c a b"]))
        assert torch.allclose(alone[0], beside[1], atol=1e-6), options
        assert alone.shape[1] == encoder.config.output_dim


def test_backward_direction_reads_the_question_reversed():
    vocab = qdup.Vocabulary.build(["a b c"])
    encoder = make_encoder(bidirectional=True, hidden=4)
    featurizer = Featurizer(vocab, 64)
    forward_only = make_encoder(hidden=4)
    forward_only.lstm.load_state_dict(encoder.lstm_reverse.state_dict())
    forward_only.embedding.load_state_dict(encoder.embedding.state_dict())
    with torch.no_grad():
        hidden_reverse = encoder(featurizer.batch(["a b c", "a"]))[:, 4:]
        reversed_text = forward_only(featurizer.batch(["c b a", "a"]))
    # Mean pooling ignores order, so the reverse half is a forward LSTM over the reversed
    # question, up to the joint normalisation: the same direction in each row.
    ratio = hidden_reverse / reversed_text
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-5)


def test_skip_pooling_appends_the_mean_input_embedding():
    vocab = qdup.Vocabulary.build(["a b c"])
    encoder = make_encoder(pooling="mean_skip", hidden=4)
    plain = make_encoder(hidden=4)
    plain.load_state_dict(encoder.state_dict())
    batch = Featurizer(vocab, 64).batch(["a b", "c"])
    with torch.no_grad():
        both, lstm_only = encoder(batch), plain(batch)
        words = encoder.embedding(batch.ids)  # (2, 2, 8); the padding slot of "c" is id 0
        mean_words = torch.stack([words[0].mean(0), words[1, 0]])
    assert both.shape == (2, 4 + 8) and encoder.config.output_dim == 12
    # Unnormalised, the vector is [LSTM mean | word mean]: the split halves point the same way.
    ratio_lstm = both[:, :4] / lstm_only
    assert torch.allclose(ratio_lstm, ratio_lstm[:, :1].expand_as(ratio_lstm), atol=1e-5)
    ratio_words = both[:, 4:] / mean_words
    assert torch.allclose(ratio_words, ratio_words[:, :1].expand_as(ratio_words), atol=1e-5)
