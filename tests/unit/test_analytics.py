"""Shelf analytics on constructed layouts: pure logic, no model."""

from __future__ import annotations

import numpy as np

from shared import analytics


def shelf(rows: list[list[tuple[float, float]]], row_h: float = 100, gap_y: float = 20, tilt: float = 0.0,
          y0: float = 0.0) -> np.ndarray:
    """Boxes of facings: each row a list of (x1, x2); rows stacked down, optionally tilted."""
    boxes = []
    for r, facings in enumerate(rows):
        top = y0 + r * (row_h + gap_y)
        for x1, x2 in facings:
            dy = tilt * (x1 + x2) / 2
            boxes.append((x1, top + dy, x2, top + row_h + dy))
    return np.array(boxes, np.float32).reshape(-1, 4)


def full_row(n: int, w: float = 50, start: float = 0, skip: tuple[int, ...] = ()) -> list[tuple[float, float]]:
    return [(start + i * w, start + (i + 1) * w - 2) for i in range(n) if i not in skip]


def test_rows_are_numbered_from_the_top():
    boxes = shelf([full_row(8), full_row(8), full_row(8)])
    row_of = analytics.rows(boxes)
    assert row_of == [0] * 8 + [1] * 8 + [2] * 8


def test_tilted_rows_stay_apart():
    # perspective: each row drops 0.2 px per px across a 400 px shelf: 80 px, most of a row's height
    boxes = shelf([full_row(8), full_row(8), full_row(8)], tilt=0.2)
    assert analytics.rows(boxes) == [0] * 8 + [1] * 8 + [2] * 8


def test_a_stacked_block_does_not_weld_two_rows():
    boxes = shelf([full_row(6), full_row(6)])
    stack = np.array([[300, 0, 348, 220]], np.float32)  # one box spanning both rows
    row_of = analytics.rows(np.vstack([boxes, stack]))
    assert row_of[:6] == [0] * 6
    assert row_of[6:12] == [1] * 6
    assert row_of[12] in (0, 1)


def test_a_stray_box_joins_the_row_it_overlaps():
    boxes = np.vstack([shelf([full_row(6), full_row(6)]), [[100, 30, 140, 60]]])  # a small sign in row 0
    row_of = analytics.rows(boxes)
    assert row_of[-1] == 0
    assert max(row_of) == 1


def test_a_gap_inside_a_row_and_one_at_its_end():
    boxes = shelf([full_row(10), full_row(10, skip=(3, 4)), full_row(7)])  # row 2 ends 3 facings early
    row_of = analytics.rows(boxes)
    found = analytics.gaps(boxes, row_of)
    assert [(g.row, g.missing) for g in found] == [(1, 2), (2, 3)]
    inside = found[0]
    assert inside.box[0] == 148  # from the end of facing 2 …
    assert inside.box[2] == 250  # … to the start of facing 5
    assert 0 < inside.confidence <= 1


def test_no_gap_in_a_full_shelf_or_between_touching_facings():
    boxes = shelf([full_row(10), full_row(10)])
    assert analytics.gaps(boxes, analytics.rows(boxes)) == []


def test_a_single_product_row_and_a_photo_of_one_product():
    one = np.array([[10, 10, 60, 110]], np.float32)
    result = analytics.analyse(one)
    assert result["rows"][0]["facings"] == 1
    assert result["gaps"] == []
    assert result["groups"][0]["share_of_shelf"] == 1.0
    single_row = shelf([full_row(5)])
    assert analytics.rows(single_row) == [0] * 5


def test_an_empty_photo():
    result = analytics.analyse(np.zeros((0, 4), np.float32))
    assert result == {"rows": [], "groups": [], "gaps": [], "facings": 0, "missing_facings": 0, "detections": []}


def test_groups_follow_appearance_and_adjacency():
    image = np.zeros((100, 400, 3), np.uint8)
    image[:, :200] = (0, 0, 200)  # four red facings …
    image[:, 200:] = (200, 120, 0)  # … then four blue ones
    boxes = shelf([full_row(8)])
    result = analytics.analyse(boxes, image)
    ids = [d["group"] for d in result["detections"]]
    assert ids == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [g["facings"] for g in result["groups"]] == [4, 4]
    assert abs(sum(g["share_of_shelf"] for g in result["groups"]) - 1.0) < 1e-3


def test_adjusted_rand_index():
    from training.analytics_eval import adjusted_rand_index

    assert adjusted_rand_index([0, 0, 1, 1], [5, 5, 7, 7]) == 1.0  # the same grouping, other names
    assert adjusted_rand_index([0, 0, 0, 0], [1, 2, 3, 4]) == 0.0  # one group against singletons
    assert adjusted_rand_index([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2]) < 1.0


def test_the_generator_knows_its_gaps_and_skus():
    from training import synth

    img, boxes, skus, gaps = synth.shelf_with_truth(11, 3, 640, 1)
    plain_img, plain_boxes = synth.shelf(11, 3, 640, 1)
    assert np.array_equal(img, plain_img)  # the truth draws no random number
    assert np.array_equal(boxes, plain_boxes)
    assert len(skus) == len(boxes)
    assert gaps.shape[1] == 4
    assert len(gaps) >= 1  # this shelf has gaps


def test_degenerate_boxes_do_not_break_the_analysis():
    boxes = np.array([[10, 10, 10, 60], [10, 10, 10, 60], [10, 10, 10, 60]], np.float32)  # zero width
    result = analytics.analyse(boxes)
    assert result["facings"] == 3
    assert result["gaps"] == []


def test_a_flat_box_the_detector_was_unsure_of_leaves_its_gap_open():
    """The detector sometimes boxes a dark, empty slot: that box does not fill the shelf."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (100, 400, 3), dtype=np.uint8)  # busy packaging everywhere …
    image[:, 200:248] = 40  # … but facing 4's slot is the shelf's flat, dark back
    boxes = shelf([full_row(8)])
    unsure = np.full(8, 0.9, np.float32)
    unsure[4] = 0.4
    result = analytics.analyse(boxes, image, confidences=unsure)
    assert [(g["row"], g["missing"]) for g in result["gaps"]] == [(0, 1)]
    assert result["gaps"][0]["box"][0] == 198
    assert result["gaps"][0]["box"][2] == 250
    assert result["facings"] == 8  # the counts stay the detector's
    # the same box detected with confidence is a plain product (a flat label), no gap
    assert analytics.analyse(boxes, image, confidences=np.full(8, 0.9, np.float32))["gaps"] == []
    # and flat packaging among flat packaging is never empty-looking
    assert analytics.analyse(boxes, np.full((100, 400, 3), 90, np.uint8), confidences=unsure)["gaps"] == []


def test_a_row_too_low_to_judge_has_no_gaps():
    """A row much lower than the photo's others (cut by the frame, bottle necks boxed apart)."""
    tall = shelf([full_row(10), full_row(10)])
    low = shelf([full_row(10, skip=(2, 3, 6, 7))], row_h=30, y0=260)
    boxes = np.vstack([tall, low])
    row_of = analytics.rows(boxes)
    assert max(row_of) == 2
    assert analytics.gaps(boxes, row_of) == []
    assert [g.row for g in analytics.gaps(boxes, row_of, min_height=0.0)] == [2, 2]


def test_a_row_the_model_is_unsure_of_has_no_gaps():
    """A row whose boxes' median confidence is under 0.6x the photo's (a sign's letters boxed)."""
    boxes = shelf([full_row(10), full_row(10, skip=(3, 4)), full_row(10)])
    row_of = analytics.rows(boxes)
    sure = np.full(len(boxes), 0.8, np.float32)
    assert [g.row for g in analytics.gaps(boxes, row_of, confidences=sure)] == [1]
    unsure = sure.copy()
    unsure[10:18] = 0.4  # row 1's eight boxes: 0.4 < 0.6 x 0.8
    assert analytics.gaps(boxes, row_of, confidences=unsure) == []
    # relative to the photo: a photo whose every box is at 0.4 still has its gap
    assert [g.row for g in analytics.gaps(boxes, row_of, confidences=np.full(len(boxes), 0.4, np.float32))] == [1]
    unsure[10:18] = 0.5  # just above 0.6 x 0.8 = 0.48: judged
    assert [g.row for g in analytics.gaps(boxes, row_of, confidences=unsure)] == [1]


def test_a_span_covered_by_another_rows_products_is_no_gap():
    """A short row fragment (a neighbouring bay at another height) beside a full row."""
    main = shelf([full_row(10, start=200), full_row(10, start=200)], gap_y=0)  # rows at y 0-100 and 100-200
    bay = np.array([[0, 50, 48, 150], [50, 50, 98, 150], [100, 50, 148, 150]], np.float32)  # straddles both
    boxes = np.vstack([main, bay])
    row_of = analytics.rows(boxes)
    assert row_of[20:] == [1, 1, 1]  # the bay is a row of its own, between the two
    assert analytics.gaps(boxes, row_of) == []  # the bay's span to the right is the main rows' products
    found = analytics.gaps(boxes, row_of, filled=1.01)
    assert [(g.row, g.box[0], g.box[2]) for g in found] == [(1, 200.0, 698.0)]  # across the shelf
