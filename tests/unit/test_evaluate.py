"""The evaluation maths on hand-made boxes, so model metrics can be trusted."""

from __future__ import annotations

import numpy as np
import pytest

from shared.accuracy import IOUS, at_threshold, average_precision, iou_matrix, match


def test_iou():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    assert iou_matrix(a, b)[0] == pytest.approx([1.0, 1 / 3, 0.0], abs=1e-6)


def test_perfect_predictions_give_ap_1():
    truth = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    tp = match(truth.copy(), np.array([0.9, 0.8]), truth)
    assert tp.all()
    assert average_precision(tp, np.array([0.9, 0.8]), 2) == pytest.approx(np.ones(len(IOUS)))


def test_duplicate_is_a_false_positive_and_miss_lowers_recall():
    truth = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    tp = match(pred, np.array([0.9, 0.8]), truth)
    assert tp[:, 0].tolist() == [True, False]
    ap = average_precision(tp, np.array([0.9, 0.8]), 2)
    assert 0.45 < ap[0] < 0.55  # half the truth found, at full precision


def test_count_error_and_precision_at_threshold():
    truth = np.array([[0, 0, 0, 10, 10], [0, 20, 0, 30, 10]], np.float32)
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [50, 50, 60, 60]], np.float32)
    conf = np.array([0.9, 0.8, 0.3], np.float32)
    hi = at_threshold([(boxes, conf, truth)], 0.5)
    lo = at_threshold([(boxes, conf, truth)], 0.2)
    assert (hi["precision"], hi["recall"], hi["count_error"]) == (1.0, 1.0, 0.0)
    assert lo["precision"] == pytest.approx(2 / 3, abs=1e-3)
    assert lo["count_error"] == 0.5
