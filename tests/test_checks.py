"""The shared count check accepts whole numbers and names the argument otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from neurocbram.checks import check_count
from neurocbram.workers import worker_pool


@pytest.mark.parametrize("value", [1, 7, np.int64(7), np.uint8(7), 7.0, np.float32(7.0)])
def test_whole_numbers_pass_as_int(value):
    checked = check_count(value, "n")
    assert checked == int(value) and type(checked) is int


@pytest.mark.parametrize("value", [0, -3, 2.5, True, np.bool_(True), "3", None, float("nan"),
                                   float("inf"), np.array([3]), [3]])
def test_other_values_are_named_in_the_error(value):
    with pytest.raises(ValueError, match=r"^jobs must be a positive integer, got "):
        check_count(value, "jobs")


def test_minimum_is_part_of_the_rule_and_the_message():
    assert check_count(0, "n_synapses", minimum=0) == 0
    with pytest.raises(ValueError, match="n_synapses must be a non-negative integer, got -1"):
        check_count(-1, "n_synapses", minimum=0)
    with pytest.raises(ValueError, match="width must be an integer >= 4, got 3"):
        check_count(3, "width", minimum=4)


def test_callers_report_strings_without_a_traceback_from_int():
    # before the shared check, int("two") raised "invalid literal for int()"
    with pytest.raises(ValueError, match="jobs must be a positive integer, got 'two'"):
        worker_pool("two")


def test_layer_arguments_use_the_shared_check():
    from neurocbram.analysis.conv import Conv2D, MaxPool2D

    with pytest.raises(ValueError, match="Conv2D padding must be a non-negative integer, got -1"):
        Conv2D(1, 4, 3, padding=-1)
    with pytest.raises(ValueError, match="Conv2D kernel must be a positive integer, got 2.5"):
        Conv2D(1, 4, 2.5)
    with pytest.raises(ValueError, match="MaxPool2D size must be a positive integer, got '2'"):
        MaxPool2D("2")
