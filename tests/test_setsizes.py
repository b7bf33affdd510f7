"""The size notes of set-level values: minimum, reliable size, and advice that fits the profile."""
from harness.metrics.setsizes import MIN_SET_ITEMS, size_note


def test_below_the_minimum_no_value_is_computed():
    computed, note = size_note("FID", MIN_SET_ITEMS - 1, 2048)
    assert not computed and note.startswith("not computed")


def test_a_small_fid_is_marked_and_points_to_kid_where_the_profile_has_kid():
    computed, note = size_note("FID", 100, 2048)
    assert computed and note.startswith("biased") and "fewer than 2048" in note and "prefer KID" in note


def test_mat_fid_is_marked_but_not_sent_to_a_kid_mat_does_not_compute():
    computed, note = size_note("mat.FID", 100, 2048)
    assert computed and note.startswith("biased") and "fewer than 2048" in note and "KID" not in note


def test_ids_reliable_from_the_feature_dimension():
    assert size_note("mat.U-IDS", 2048, 2048) == (True, "")
    assert size_note("P-IDS", 2047, 2048)[1].startswith("biased")
