"""The one Markdown table builder."""
import pytest

from spacy_bertram.evaluation import markdown_table


def test_first_column_left_numbers_right():
    table = markdown_table(["system", "ρ", "n"], [["mean", "0.377", 550], ["add", "0.381", 550]])
    assert table.splitlines() == [
        "| system | ρ | n |",
        "|---|---:|---:|",
        "| mean | 0.377 | 550 |",
        "| add | 0.381 | 550 |",
    ]


def test_alignment_is_per_column():
    assert markdown_table(["k", "system"], [[1, "a"]], align="rl").splitlines()[1] == "|---:|---|"


@pytest.mark.parametrize("align, rows, message", [
    ("l", [["a", "b"]], "one 'l' or 'r' per column"),
    ("lx", [["a", "b"]], "one 'l' or 'r' per column"),
    (None, [["a"]], "1 cells for 2 columns"),
])
def test_bad_shapes_are_errors(align, rows, message):
    with pytest.raises(ValueError, match=message):
        markdown_table(["x", "y"], rows, align=align)


def test_format_p_never_prints_a_bootstrap_zero():
    from spacy_bertram.evaluation.tables import format_p

    assert (format_p(0.0), format_p(0.0004), format_p(0.001), format_p(0.5)) == ("< 0.001", "< 0.001", "0.001", "0.500")
