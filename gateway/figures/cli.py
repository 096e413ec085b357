"""``gateway figures``: the operator's view of the key figures, as CSV or JSON on stdout.

The project CLI adds it with ``add_commands`` and calls ``args.func(args, settings)``.
Suppression is the same as in the API (``gateway.figures.service``), so the
output may be passed on as it is.
"""

from __future__ import annotations

import argparse
import json
import sys

from sqlmodel import Session

from gateway.clock import utcnow
from gateway.database import create_db_engine
from gateway.figures import service
from gateway.settings import Settings


def _year(value: str) -> int:
    if not value.isdigit() or not 1970 <= int(value) <= 2100:
        raise argparse.ArgumentTypeError(f"not a year between 1970 and 2100: {value!r}")
    return int(value)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``figures`` to the project CLI."""
    parser = subparsers.add_parser(
        "figures",
        help="key figures (Kennzahlen) of every organisation per month",
        description="Print the cooperation key figures of a year; small cells are suppressed.",
    )
    parser.add_argument("--year", type=_year, default=None, help="calendar year; default: now")
    parser.add_argument("--format", choices=("json", "csv"), default="json")
    parser.add_argument("--organisation", default=None, help="only this organisation's rows")
    parser.set_defaults(func=figures_command)


def figures_command(args: argparse.Namespace, settings: Settings) -> int:
    now = utcnow()
    year: int = args.year if args.year is not None else now.astimezone(service.TIME_ZONE).year
    engine = create_db_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            report = service.operator_report(
                session, year=year, organisation_id=args.organisation, now=now
            )
    finally:
        engine.dispose()
    if args.format == "csv":
        sys.stdout.write(service.render_csv(report))
    else:
        sys.stdout.write(
            json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
        )
    return 0
