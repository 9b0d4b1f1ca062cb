"""Argument checks name the parameter, the expected and the received value."""
import numpy as np
import pytest

from course_utils.validation import check_array, check_in, check_positive_int, check_real


def test_messages():
    with pytest.raises(ValueError, match=r"num_samples must be a positive int, got -3 \(int\)\."):
        check_positive_int("num_samples", -3)
    with pytest.raises(TypeError, match=r"got True \(bool\)"):
        check_positive_int("k", True)
    with pytest.raises(ValueError, match=r"eps must be a real number >= 0 and <= 1, got 2 \(int\)"):
        check_real("eps", 2, low=0, high=1)
    with pytest.raises(ValueError, match=r"sigma must be a real number > 0"):
        check_real("sigma", 0.0, low=0, low_inclusive=False)
    with pytest.raises(ValueError, match="mode must be one of 'a', 'b'; got 'c'"):
        check_in("mode", "c", ["a", "b"])
    with pytest.raises(ValueError, match=r"X must have 2 dimension\(s\), got shape \(3,\)"):
        check_array("X", [1, 2, 3], ndim=2)
    with pytest.raises(ValueError, match="finite"):
        check_array("X", [np.nan])


def test_accepted_values_pass_through():
    assert check_positive_int("n", np.int64(3)) == 3 and check_real("x", 0.5, low=0, high=1) == 0.5
    assert check_array("X", [[1, 2]], ndim=2).shape == (1, 2)
