import numpy as np
import pytest

from multipose.values import integer_problem, number_problem, numbers_problem


@pytest.mark.parametrize(
    "values, problem",
    [
        ([1, 2.5, -3], None),
        ((np.float32(1), np.int64(2)), None),  # NumPy's numbers from Python callers
        ([], None),
        ([1, "2"], 'holds "2", not a number'),
        ([1, True], "holds true, not a number"),
        ([None], "holds null, not a number"),
        ([1, [2]], "holds [2], not a number"),
        ([1.0, float("nan")], "holds NaN, not a finite number"),
        ([np.float32("-inf")], "holds -Infinity, not a finite number"),
        ([1, 2**2000], "holds a number too large for a float"),
        ("1, 2", 'is "1, 2", not a list of numbers'),
        ({"x": 1}, 'is {"x": 1}, not a list of numbers'),
    ],
)
def test_what_is_wrong_with_a_list_of_numbers(values, problem):
    assert numbers_problem(values) == problem


def test_single_values_and_lengths():
    assert numbers_problem([1, 2, 3], 4) == "has 3 values, not 4"
    assert number_problem(2**2000) == "is a number too large for a float"
    assert number_problem(float("inf")) == "is Infinity, not a finite number"
    assert number_problem("x" * 40) == 'is "xxxxxxxxxxxxxxxxxxxxxxxxxx..., not a number'
    assert integer_problem(np.int32(4)) is None and integer_problem(4.0) == "is 4.0, not an integer"
    assert integer_problem(False) == "is false, not an integer"
