import numpy as np
import pytest
from sklearn import metrics as sk

from qdup.evaluation import metrics


def test_confusion_matrix_hand_worked():
    labels = np.array([0, 0, 0, 1, 1])
    predicted = np.array([0, 1, 0, 1, 0])
    assert metrics.confusion_matrix(labels, predicted).tolist() == [[2, 1], [1, 1]]
    summary = metrics.summarize([[2, 1], [1, 1]])
    assert summary == {"accuracy": 0.6, "precision": 0.5, "recall": 0.5, "f1": 0.5}


def test_summary_of_empty_predictions_is_zero_not_nan():
    assert metrics.summarize([[3, 0], [2, 0]])["precision"] == 0.0


def test_sweep_hand_worked():
    # scores 0.9(1) 0.6(0) 0.6(1) 0.2(0): distinct scores 0.9, 0.6, 0.2
    sweep = metrics.threshold_sweep(np.array([1, 0, 1, 0]), np.array([0.9, 0.6, 0.6, 0.2]))
    assert sweep.tp.tolist() == [0, 1, 2, 2] and sweep.fp.tolist() == [0, 0, 1, 2]
    assert sweep.thresholds[:3].tolist() == pytest.approx([0.9, 0.75, 0.4])
    assert sweep.best("accuracy") == (pytest.approx(0.75), 0.75)  # first of the ties: the highest threshold
    assert sweep.best("f1")[1] == pytest.approx(0.8)


def test_roc_auc_with_ties_hand_worked():
    # positives {0.8, 0.5}, negatives {0.5, 0.1}: pairs won 1 + 1 + 0.5 + 1 = 3.5 of 4
    assert metrics.roc_auc(np.array([1, 1, 0, 0]), np.array([0.8, 0.5, 0.5, 0.1])) == 0.875
    assert np.isnan(metrics.roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(labels * 0.5, 1.0), 1)  # rounding makes many ties
    assert metrics.roc_auc(labels, scores) == pytest.approx(sk.roc_auc_score(labels, scores))
    sweep = metrics.threshold_sweep(labels, scores)
    brute = max(sk.accuracy_score(labels, scores > t) for t in np.r_[np.unique(scores), -np.inf])
    threshold, accuracy = sweep.best("accuracy")
    assert accuracy == pytest.approx(brute)
    assert sk.accuracy_score(labels, scores > threshold) == pytest.approx(accuracy)
    f1_threshold, f1 = sweep.best("f1")
    assert sk.f1_score(labels, scores > f1_threshold) == pytest.approx(f1)
    precision, recall, thresholds = metrics.precision_recall_curve(labels, scores)
    for k in range(0, len(thresholds), 7):
        predicted = scores > thresholds[k]
        assert precision[k] == pytest.approx(sk.precision_score(labels, predicted))
        assert recall[k] == pytest.approx(sk.recall_score(labels, predicted))


def test_evaluate_compares_in_float64_like_the_sweep():
    from qdup.evaluation.pairs import evaluate_scores

    scores = np.array([0.7, np.nextafter(np.float32(0.7), np.float32(1))], dtype=np.float32)
    report = evaluate_scores(np.array([0, 1]), scores, 0.7)
    again = evaluate_scores(np.array([0, 1]), scores, report.best_accuracy_threshold)
    assert again.accuracy == report.best_accuracy == 1.0
