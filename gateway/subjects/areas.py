"""Which municipality keys (AGS) lie in an organisation's own area.

A person's municipality key decides which jobcenter a question under § 50
SGB II (no consent) goes to, so an organisation may give a person only a key
of its own area, and asks statutory questions only about persons of it:

- a municipality: its own official key;
- a district office: the keys of its municipalities, that is keys starting
  with the district's five-digit key (the first five digits of an AGS name its
  district) or keys of municipalities recorded below it (``parent_id``);
- a jobcenter: the keys ``policies/routing.yaml`` makes it responsible for;
- anyone else: none.
"""

from __future__ import annotations

from sqlmodel import Session

from gateway.organisations import repository as organisations
from gateway.organisations.models import Organisation, OrganisationKind
from gateway.policy.models import Routing
from gateway.subjects.errors import OutsideArea


def in_area(session: Session, *, organisation: Organisation, key: str, routing: Routing) -> bool:
    own = organisation.official_key
    if organisation.kind is OrganisationKind.MUNICIPALITY:
        return own is not None and key == own
    if organisation.kind is OrganisationKind.DISTRICT:
        if own is not None and len(own) == 5 and key.startswith(own):
            return True
        return any(
            child.kind is OrganisationKind.MUNICIPALITY and child.official_key == key
            for child in organisations.children_of(session, organisation.id)
        )
    if organisation.kind is OrganisationKind.JOBCENTER:
        responsible = routing.jobcenter_for_municipality(ags=key)
        return own is not None and responsible is not None and responsible.key == own
    return False


def require_in_area(
    session: Session, *, organisation: Organisation, key: str, routing: Routing
) -> None:
    """Raise ``OutsideArea`` (422) unless ``key`` lies in ``organisation``'s area."""
    if not in_area(session, organisation=organisation, key=key, routing=routing):
        raise OutsideArea(
            f"The municipality key {key} lies outside your organisation's area. "
            "Give the key of a municipality you are responsible for; a person who lives "
            "elsewhere is registered by the organisation responsible there.",
        )
