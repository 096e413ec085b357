"""The suppression rules of ``gateway.figures.service`` on hand-made cells (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.figures.service import Cell, CellKey, month_bounds, percentile, suppress


def _cell(persons: int, *, offset: int = 0, records: int | None = None) -> Cell:
    subjects = {f"sub-{offset + i}" for i in range(persons)}
    return Cell(persons=subjects, records=persons if records is None else records)


def _key(figure: str, dimension: str = "", organisation: str = "org-a", month: int = 6) -> CellKey:
    return (organisation, month, figure, dimension)


TOTAL = _key("queries.asked")
A = _key("queries.by_purpose", "a")
B = _key("queries.by_purpose", "b")
C = _key("queries.by_purpose", "c")


def test_primary_suppression_hides_one_to_four_persons_and_shows_zero() -> None:
    cells = {TOTAL: _cell(4, records=9), A: _cell(0), B: _cell(5)}
    suppress(cells, [])
    assert cells[TOTAL].value("queries.asked") == "<5"
    assert cells[A].value("queries.by_purpose") == 0
    assert cells[B].value("queries.by_purpose") == 5


def test_a_lone_small_cell_takes_the_smallest_neighbour_with_it() -> None:
    cells = {
        TOTAL: _cell(20, records=25),
        A: _cell(2, offset=0),
        B: _cell(7, offset=2),
        C: _cell(11, offset=9),
    }
    suppress(cells, [[TOTAL, A, B, C]])
    assert [cells[k].hidden for k in (TOTAL, A, B, C)] == [None, "<5", "x", None]


def test_two_small_cells_about_five_persons_protect_each_other() -> None:
    cells = {TOTAL: _cell(20), A: _cell(2, offset=0), B: _cell(3, offset=2), C: _cell(15, offset=5)}
    suppress(cells, [[TOTAL, A, B, C]])
    assert [cells[k].hidden for k in (TOTAL, A, B, C)] == [None, "<5", "<5", None]


def test_overlapping_persons_count_once() -> None:
    # A and B are about the same two persons: together still fewer than five.
    cells = {TOTAL: _cell(20), A: _cell(2), B: _cell(2), C: _cell(18, offset=2)}
    suppress(cells, [[TOTAL, A, B, C]])
    assert cells[C].hidden == "x"
    assert cells[TOTAL].hidden is None


def test_withholding_cascades_into_other_groups() -> None:
    q1, q2 = _key("queries.by_question", "q1"), _key("queries.by_question", "q2")
    cells = {
        TOTAL: _cell(12),
        A: _cell(2, offset=0),
        B: _cell(10, offset=2),
        # B's question types: q2 is small on its own.
        q1: _cell(6, offset=2),
        q2: _cell(4, offset=8),
    }
    groups = [[TOTAL, A, B], [B, q1, q2]]
    suppress(cells, groups)
    assert cells[A].hidden == "<5"
    assert cells[B].hidden == "x"
    assert cells[q2].hidden == "<5"
    # q2 is primary; B is hidden already and together they cover ten persons: q1 stays.
    assert cells[q1].hidden is None


def test_a_withheld_total_opens_a_group_that_then_needs_a_second_cell() -> None:
    total, x, y = _key("answers.answered"), _key("answers.within_deadline"), _key("answers.late")
    other = _key("answers.by_answerer.answered", "jc")
    cells = {
        total: _cell(6),
        x: _cell(2),
        y: _cell(4, offset=2),
        other: _cell(6),
    }
    # x and y cover six persons; the second group ties total to `other` only.
    suppress(cells, [[total, x, y], [total, other]])
    assert [cells[k].hidden for k in (total, x, y, other)] == [None, "<5", "<5", None]


def test_pinned_cells_are_known_and_never_withheld() -> None:
    before, given, after = _key("a", month=0), _key("b"), _key("c")
    cells = {before: Cell(persons={"p1"}, records=1, pinned=True), given: _cell(2), after: _cell(9)}
    suppress(cells, [[before, given, after]])
    assert cells[before].hidden is None
    assert cells[given].hidden == "<5"
    assert cells[after].hidden == "x"


def test_suppression_is_deterministic() -> None:
    def run() -> list[str | None]:
        cells = {TOTAL: _cell(20), A: _cell(1), B: _cell(9, offset=1), C: _cell(9, offset=10)}
        suppress(cells, [[TOTAL, A, B, C]])
        return [cells[k].hidden for k in (TOTAL, A, B, C)]

    assert run() == run() == [None, "<5", "x", None]


def test_percentile_interpolates_like_percentile_cont() -> None:
    values = [0.2, 0.4, 0.6, 0.8, 1.0, 2.0]
    assert round(percentile(values, 0.5), 6) == 0.7
    assert round(percentile(values, 0.9), 6) == 1.5
    assert percentile([3.0], 0.9) == 3.0


def test_months_begin_at_midnight_in_berlin() -> None:
    bounds = month_bounds(2026)
    assert len(bounds) == 13
    assert bounds[0] == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    assert bounds[3] == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # summer time
    assert bounds[12] == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
