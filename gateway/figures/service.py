"""Cooperation key figures (Kennzahlen) per organisation and month, with small-cell suppression.

The cockpit the Impulspapier asks for instead of yearly Excel lists. One row
per organisation (municipality, district office, jobcenter; never the
operator) and month of the year, months in Europe/Berlin time. A figure
belongs to every organisation that is a party to it: a consent to its grantee
and its jobcenter, a query to the organisation that asked and the one that
answers (a denied query only to the asker: it never left the gateway). Months
that have not begun are left out; "end of month" of the running month is now.

Cells and what they count
-------------------------
Cells that count persons (value = distinct ``subject_id``), only consents that
became active (an unconfirmed ``own_phone`` consent was never given):

- ``consents.given``: persons whose consent became active in the month
  (``activated_at``; an amendment is a consent that becomes active too).
- ``consents.active_at_month_end``: persons with a consent in force then.
- ``consents.revoked`` / ``consents.expired``: persons whose active consent
  ended so in the month (``ended_at``); superseding by an amendment is neither.
  ``revoked`` counts every ending by declaration: the person's withdrawal
  (``withdrawn``) and an organisation's revocation alike.

Cells that count queries (value = number of queries; the persons behind them,
distinct ``subject_id``, decide suppression):

- ``queries.asked``, ``queries.by_purpose[p]``, ``queries.by_question[q]``:
  queries asked in the month (``created_at``), denied ones included.
- ``answers.answered``, ``answers.within_deadline`` (``answered_at <=
  deadline``), ``answers.late``, ``answers.by_answerer[o].answered``: answers
  given in the month (``answered_at``), whatever happened to the query later.
- ``denials.by_reason[r]``: denied queries naming reason ``r`` (a query with
  several reasons counts once for each).

Statistics: ``answers.by_answerer[o].median_hours`` and ``p90_hours``, hours
from ``created_at`` to ``answered_at`` of the answers counted in
``by_answerer[o].answered`` (90th percentile with linear interpolation, as
PostgreSQL's ``percentile_cont``), rounded to 0.1 h; ``null`` without answers.

Suppression
-----------
1. Primary: a cell with 1 to 4 persons behind it is shown as ``"<5"``. The
   marker always means "fewer than five persons"; a query cell so marked may
   stand for more than four queries. A statistic is ``"<5"`` when its answer
   count has fewer than five persons behind it. Zero is shown: it says
   nothing about any person.
2. Secondary (complements): published cells are tied by sums, so a hidden
   cell could be computed from its neighbours. The groups of tied cells are
   ``queries.asked`` with all ``by_purpose`` cells; with all ``by_question``
   cells; each ``by_purpose[p]`` with the question types asked under ``p``;
   ``answers.answered`` with ``within_deadline`` and ``late``; with all
   ``by_answerer[o].answered``; the consents of a month with their stock
   (active at the end of the previous month, given, revoked, expired, active
   at the end of the month; for January the previous December counts as
   published); and across rows, a jobcenter's cell with the same cell of every
   organisation it shares a consent or query with (the jobcenter's figures are
   roughly the sum of its partners'). In each group, the hidden cells together
   must stand for at least five persons: while they stand for 1 to 4, the
   shown non-empty cell with the fewest persons (then records) is withheld as well and shown
   as ``"x"``. This repeats over all groups until nothing changes, because a
   withheld cell can open a gap in another group.
3. Suppression is computed once over the table of all organisations and only
   then cut down to what the caller may see. A cell therefore looks the same
   to everyone, and tables given to different viewers (a jobcenter and a
   municipality) cannot be combined to undo it.

Limits
------
Each group is checked on its own; combinations of several groups' sums are
not audited by linear programming (as tau-ARGUS would do). Denial reasons
and statistics are in no sum (a denied query may name several reasons, and
no denial total is published), so they only get primary suppression. The
part of ``queries.asked`` that is neither answered nor denied (open, failed,
expired, cancelled) is not published, which keeps asking, answering and
denying from forming an equation. Two reports of the running month taken at
different times can be differenced: publish closed months.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo

from sqlmodel import Session

from gateway.access.guard import AccessGuard
from gateway.auth.principal import Principal
from gateway.clock import utcnow
from gateway.consents.models import ConsentStatus
from gateway.errors import NotFound
from gateway.figures import repository
from gateway.figures.schemas import (
    AnswererFigures,
    AnswerFigures,
    ConsentFigures,
    Count,
    DenialFigures,
    FiguresReport,
    Hours,
    MonthFigures,
    OrganisationFigures,
    QueryFigures,
)
from gateway.organisations.models import Organisation, OrganisationKind
from gateway.policy.models import Action

THRESHOLD = 5
FEW: Final = "<5"
WITHHELD: Final = "x"
TIME_ZONE = ZoneInfo("Europe/Berlin")
LEGEND = {
    FEW: f"fewer than {THRESHOLD} persons stand behind this cell",
    WITHHELD: f"withheld so that a '{FEW}' cell cannot be computed from the cells beside it",
}
# Who may read figures: the people who run the cooperation, not caseworkers' inboxes.

GIVEN = "consents.given"
ACTIVE = "consents.active_at_month_end"
REVOKED = "consents.revoked"
EXPIRED = "consents.expired"
ASKED = "queries.asked"
BY_PURPOSE = "queries.by_purpose"
BY_QUESTION = "queries.by_question"
ANSWERED = "answers.answered"
WITHIN_DEADLINE = "answers.within_deadline"
LATE = "answers.late"
BY_ANSWERER = "answers.by_answerer.answered"
MEDIAN = "answers.by_answerer.median_hours"
P90 = "answers.by_answerer.p90_hours"
DENIED_BY_REASON = "denials.by_reason"
PERSON_FIGURES = frozenset({GIVEN, ACTIVE, REVOKED, EXPIRED})
# Figures in no sum: only primary suppression applies (see the module docstring).
UNTIED_FIGURES = frozenset({DENIED_BY_REASON})

# organisation id, month (0 = December of the previous year), figure, dimension ("" if none)
CellKey = tuple[str, int, str, str]


@dataclass
class Cell:
    persons: set[str] = field(default_factory=set)
    records: int = 0
    hidden: Literal["<5", "x"] | None = None
    # Published elsewhere (the previous year's December): treated as known, never withheld here.
    pinned: bool = False

    def value(self, figure: str) -> Count:
        if self.hidden is not None:
            return self.hidden
        return len(self.persons) if figure in PERSON_FIGURES else self.records


@dataclass
class Table:
    """All cells of one year for every organisation, before anyone's view is cut out."""

    months: int
    cells: dict[CellKey, Cell] = field(default_factory=dict)
    hours: dict[tuple[str, int, str], list[float]] = field(default_factory=dict)
    # Question types asked under each purpose, per organisation and month.
    questions_of: dict[tuple[str, int, str], set[str]] = field(default_factory=dict)

    def add(self, key: CellKey, subject_id: str, records: int = 1) -> None:
        cell = self.cells.setdefault(key, Cell())
        cell.persons.add(subject_id)
        cell.records += records

    def rows(self) -> dict[tuple[str, int], list[CellKey]]:
        """The keys of each organisation's month, sorted."""
        index: dict[tuple[str, int], list[CellKey]] = defaultdict(list)
        for key in sorted(self.cells):
            index[(key[0], key[1])].append(key)
        return index


def month_bounds(year: int) -> list[datetime]:
    """The 13 instants (UTC) at which the months of ``year`` begin and the year ends."""
    starts = [datetime(year, month, 1, tzinfo=TIME_ZONE) for month in range(1, 13)]
    starts.append(datetime(year + 1, 1, 1, tzinfo=TIME_ZONE))
    return [moment.astimezone(UTC) for moment in starts]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (PostgreSQL's ``percentile_cont``)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


# -- building the table ---------------------------------------------------------------


def build_table(session: Session, *, year: int, now: datetime) -> Table:
    bounds = month_bounds(year)
    started = sum(1 for start in bounds[:-1] if start <= now)
    table = Table(months=started)
    if started == 0:
        return table

    def counted(month: int) -> bool:
        return 1 <= month <= started

    for figure, facts in (
        (GIVEN, repository.consents_activated(session, bounds=bounds)),
        (
            REVOKED,
            repository.consents_ended(
                session,
                bounds=bounds,
                statuses=(ConsentStatus.REVOKED, ConsentStatus.WITHDRAWN),
            ),
        ),
        (
            EXPIRED,
            repository.consents_ended(session, bounds=bounds, statuses=(ConsentStatus.EXPIRED,)),
        ),
    ):
        for fact in facts:
            if counted(fact.month):
                table.add((fact.organisation_id, fact.month, figure, ""), fact.subject_id)
    for month in range(0, started + 1):
        moment = min(bounds[month], now)
        for fact in repository.consents_active_at(session, moment=moment, month=month):
            table.add((fact.organisation_id, month, ACTIVE, ""), fact.subject_id)
    for key, cell in table.cells.items():
        if key[1] == 0:
            cell.pinned = True

    for asked in repository.queries_asked(session, bounds=bounds):
        if not counted(asked.month):
            continue
        org, month = asked.organisation_id, asked.month
        table.add((org, month, ASKED, ""), asked.subject_id, asked.queries)
        table.add((org, month, BY_PURPOSE, asked.purpose), asked.subject_id, asked.queries)
        table.add((org, month, BY_QUESTION, asked.question), asked.subject_id, asked.queries)
        table.questions_of.setdefault((org, month, asked.purpose), set()).add(asked.question)

    for answered in repository.queries_answered(session, bounds=bounds):
        if not counted(answered.month):
            continue
        org, month = answered.organisation_id, answered.month
        table.add((org, month, ANSWERED, ""), answered.subject_id)
        table.add(
            (org, month, WITHIN_DEADLINE if answered.within_deadline else LATE, ""),
            answered.subject_id,
        )
        table.add((org, month, BY_ANSWERER, answered.answerer_id), answered.subject_id)
        table.hours.setdefault((org, month, answered.answerer_id), []).append(answered.hours)

    for denied in repository.queries_denied(session, bounds=bounds):
        if not counted(denied.month):
            continue
        for reason in sorted(set(denied.reasons)):
            table.add(
                (denied.organisation_id, denied.month, DENIED_BY_REASON, reason), denied.subject_id
            )
    return table


def tied_groups(
    table: Table, *, organisations: Iterable[Organisation], partners: Mapping[str, set[str]]
) -> list[list[CellKey]]:
    """The groups of cells tied by a sum (module docstring, "Secondary")."""
    by_row = table.rows()
    groups: list[list[CellKey]] = []
    orgs = list(organisations)
    for org in orgs:
        for month in range(1, table.months + 1):
            dims: dict[str, list[CellKey]] = defaultdict(list)
            for key in by_row.get((org.id, month), []):
                dims[key[2]].append(key)
            total: CellKey = (org.id, month, ASKED, "")
            groups.append([total, *dims[BY_PURPOSE]])
            groups.append([total, *dims[BY_QUESTION]])
            for purpose_key in dims[BY_PURPOSE]:
                questions = table.questions_of.get((org.id, month, purpose_key[3]), set())
                groups.append(
                    [purpose_key, *((org.id, month, BY_QUESTION, q) for q in sorted(questions))]
                )
            answered: CellKey = (org.id, month, ANSWERED, "")
            groups.append(
                [answered, (org.id, month, WITHIN_DEADLINE, ""), (org.id, month, LATE, "")]
            )
            groups.append([answered, *dims[BY_ANSWERER]])
            groups.append(
                [
                    (org.id, month - 1, ACTIVE, ""),
                    (org.id, month, GIVEN, ""),
                    (org.id, month, REVOKED, ""),
                    (org.id, month, EXPIRED, ""),
                    (org.id, month, ACTIVE, ""),
                ]
            )
    for org in orgs:
        if org.kind is not OrganisationKind.JOBCENTER or not partners.get(org.id):
            continue
        for month in range(1, table.months + 1):
            for key in by_row.get((org.id, month), []):
                if key[2] in UNTIED_FIGURES:
                    continue
                groups.append(
                    [key, *((p, month, key[2], key[3]) for p in sorted(partners[org.id]))]
                )
    return groups


def suppress(
    cells: Mapping[CellKey, Cell],
    groups: Sequence[Sequence[CellKey]],
    *,
    threshold: int = THRESHOLD,
) -> None:
    """Mark cells ``"<5"`` (primary) and ``"x"`` (secondary), in place, deterministically."""
    for cell in cells.values():
        if not cell.pinned and 0 < len(cell.persons) < threshold:
            cell.hidden = FEW
    changed = True
    while changed:
        changed = False
        for group in groups:
            members = [(key, cells[key]) for key in group if key in cells]
            hidden: set[str] = set()
            for _, cell in members:
                if cell.hidden is not None:
                    hidden |= cell.persons
            while 0 < len(hidden) < threshold:
                # The smallest cell goes (fewest persons, then records): a total is kept
                # when a part can do.
                candidates = [
                    (len(cell.persons), cell.records, key, cell)
                    for key, cell in members
                    if cell.hidden is None and not cell.pinned and cell.persons
                ]
                if not candidates:
                    # Every non-empty cell of the group is hidden: nothing can be solved for.
                    break
                *_, pick = min(candidates, key=lambda item: item[:3])
                pick.hidden = WITHHELD
                hidden |= pick.persons
                changed = True


# -- who sees what ------------------------------------------------------------------------


def visible_organisations(
    session: Session, *, guard: AccessGuard, principal: Principal
) -> list[Organisation]:
    """The organisations whose figures the rules (``figures.*``) let ``principal`` read:
    their own; a district office also its municipalities; the operator's officers all."""
    visible = guard.records_scope(session, principal, Action.READ_FIGURES)
    everyone = repository.organisations_with_figures(session)
    return everyone if visible is None else [o for o in everyone if o.id in visible]


def report_for(
    session: Session,
    *,
    guard: AccessGuard,
    principal: Principal,
    year: int,
    organisation_id: str | None = None,
    now: datetime | None = None,
) -> FiguresReport:
    """The figures the caller may see, optionally of one of those organisations only."""
    visible = visible_organisations(session, guard=guard, principal=principal)
    return _report(session, year=year, rows=_only(visible, organisation_id), now=now)


def operator_report(
    session: Session,
    *,
    year: int,
    organisation_id: str | None = None,
    now: datetime | None = None,
) -> FiguresReport:
    """The operator's view (the CLI): every organisation."""
    everyone = repository.organisations_with_figures(session)
    return _report(session, year=year, rows=_only(everyone, organisation_id), now=now)


def _only(rows: list[Organisation], organisation_id: str | None) -> list[Organisation]:
    if organisation_id is None:
        return rows
    chosen = [o for o in rows if o.id == organisation_id]
    if not chosen:
        # Organisations the caller may not see do not exist for them.
        raise NotFound("No such organisation.", slug="organisation-not-found")
    return chosen


def _report(
    session: Session, *, year: int, rows: list[Organisation], now: datetime | None
) -> FiguresReport:
    moment = now or utcnow()
    table = build_table(session, year=year, now=moment)
    everyone = repository.organisations_with_figures(session)
    partners: dict[str, set[str]] = defaultdict(set)
    for first, second in repository.partnerships(session):
        partners[first].add(second)
        partners[second].add(first)
    suppress(table.cells, tied_groups(table, organisations=everyone, partners=partners))
    by_row = table.rows()
    return FiguresReport(
        year=year,
        time_zone=str(TIME_ZONE),
        generated_at=moment,
        threshold=THRESHOLD,
        legend=LEGEND,
        organisations=[
            OrganisationFigures(
                id=org.id,
                name=org.name,
                kind=org.kind.value,
                parent_id=org.parent_id,
                months=[
                    _month(
                        table,
                        by_row.get((org.id, m), []),
                        organisation_id=org.id,
                        year=year,
                        month=m,
                    )
                    for m in range(1, table.months + 1)
                ],
            )
            for org in rows
        ],
    )


def _month(
    table: Table, row: list[CellKey], *, organisation_id: str, year: int, month: int
) -> MonthFigures:
    """One organisation's month; ``row`` holds the keys of its cells."""
    org = organisation_id
    dimensions: dict[str, list[str]] = defaultdict(list)
    for key in row:
        dimensions[key[2]].append(key[3])

    def value(figure: str, dimension: str = "") -> Count:
        cell = table.cells.get((org, month, figure, dimension))
        return 0 if cell is None else cell.value(figure)

    def by(figure: str) -> dict[str, Count]:
        return {dimension: value(figure, dimension) for dimension in dimensions[figure]}

    def statistic(answerer: str, fraction: float) -> Hours:
        cell = table.cells.get((org, month, BY_ANSWERER, answerer))
        hours = table.hours.get((org, month, answerer))
        if cell is None or not hours:
            return None
        if len(cell.persons) < THRESHOLD:
            return FEW
        return round(percentile(hours, fraction), 1)

    answerers = dimensions[BY_ANSWERER]
    return MonthFigures(
        month=f"{year:04d}-{month:02d}",
        consents=ConsentFigures(
            given=value(GIVEN),
            active_at_month_end=value(ACTIVE),
            revoked=value(REVOKED),
            expired=value(EXPIRED),
        ),
        queries=QueryFigures(
            asked=value(ASKED), by_purpose=by(BY_PURPOSE), by_question=by(BY_QUESTION)
        ),
        answers=AnswerFigures(
            answered=value(ANSWERED),
            within_deadline=value(WITHIN_DEADLINE),
            late=value(LATE),
            by_answerer={
                answerer: AnswererFigures(
                    answered=value(BY_ANSWERER, answerer),
                    median_hours=statistic(answerer, 0.5),
                    p90_hours=statistic(answerer, 0.9),
                )
                for answerer in answerers
            },
        ),
        denials=DenialFigures(by_reason=by(DENIED_BY_REASON)),
    )


# -- CSV ------------------------------------------------------------------------------------

CSV_COLUMNS = ("organisation_id", "organisation", "month", "figure", "dimension", "value")


def _cells(month: MonthFigures) -> Iterator[tuple[str, str, Count | Hours]]:
    consents, queries, answers = month.consents, month.queries, month.answers
    yield GIVEN, "", consents.given
    yield ACTIVE, "", consents.active_at_month_end
    yield REVOKED, "", consents.revoked
    yield EXPIRED, "", consents.expired
    yield ASKED, "", queries.asked
    for purpose, count in queries.by_purpose.items():
        yield BY_PURPOSE, purpose, count
    for question, count in queries.by_question.items():
        yield BY_QUESTION, question, count
    yield ANSWERED, "", answers.answered
    yield WITHIN_DEADLINE, "", answers.within_deadline
    yield LATE, "", answers.late
    for answerer, figures in answers.by_answerer.items():
        yield BY_ANSWERER, answerer, figures.answered
        yield MEDIAN, answerer, figures.median_hours
        yield P90, answerer, figures.p90_hours
    for reason, count in month.denials.by_reason.items():
        yield DENIED_BY_REASON, reason, count


def render_csv(report: FiguresReport) -> str:
    """One line per cell (long format, RFC 4180): the same values as the JSON document.

    A statistic without answers is an empty field.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for org in report.organisations:
        for month in org.months:
            for figure, dimension, value in _cells(month):
                shown = "" if value is None else value
                writer.writerow((org.id, org.name, month.month, figure, dimension, shown))
    return buffer.getvalue()
