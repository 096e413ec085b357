"""Register a person, or find them: ``POST /v1/subjects`` and the persons page.

The answer depends only on the caller's own organisation: 201 when the person
is new to it, 200 when it registered or found them before. Whether another
organisation knows the person is never revealed, and every lookup is audited
(``subject.registered`` for a new pseudonym, ``subject.found`` otherwise,
with ``details.new_to_organisation``).

The blind index over the normalised name and birth date finds the same person
again. Two persons can share both: a customer number given that differs from
the one the found pseudonym holds is never merged into it. When the caller's
organisation registered that pseudonym itself, it is told (409
``customer-number-conflict``) and may repeat with ``another_person``;
otherwise (or with ``another_person``) a distinct person is registered under
a second blind index that includes the customer number, so the same person
with that number is found again.

Whether the caller may register or find persons at all is the rule
``person.register``; a municipality key given must lie in the caller's area
(``areas``).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from gateway.access.guard import AccessGuard
from gateway.audit.service import AuditEvent, AuditTrail
from gateway.auth.principal import Principal
from gateway.errors import BadRequest, Conflict, Forbidden
from gateway.ids import new_id
from gateway.organisations import repository as organisations
from gateway.policy.models import Action, Routing
from gateway.sealing import Sealer
from gateway.subjects import repository
from gateway.subjects.areas import require_in_area
from gateway.subjects.errors import Unprocessable
from gateway.subjects.facts import NEW_PERSON
from gateway.subjects.models import Subject, SubjectRegistration
from gateway.subjects.normalise import identity_key, normalise_name
from gateway.subjects.service import (
    INDEX_DOMAIN,
    Identity,
    Registration,
    open_number,
    seal_identity,
    seal_number,
)

NUMBERED_INDEX_DOMAIN = "subject-identity-number-v1"


def normalise_number(number: str) -> str:
    """Customer numbers compare without case and hyphens ("123-d456" is "123D456")."""
    return number.replace("-", "").upper()


def _forbidden() -> Forbidden:
    return Forbidden(
        "Only staff of municipalities, district offices and jobcenters register or find persons.",
        slug="register-person-forbidden",
    )


def _conflict() -> Conflict:
    return Conflict(
        "Your organisation registered a person with this name and birth date under another "
        "jobcenter customer number. Check the number. If this is a different person with the "
        'same name and birth date, repeat the request with "another_person": true.',
        slug="customer-number-conflict",
    )


def _check(identity: Identity, *, another_person: bool) -> None:
    if not normalise_name(identity.given_name) or not normalise_name(identity.family_name):
        raise BadRequest("Given and family name must contain letters.", slug="invalid-name")
    if not date(1900, 1, 1) <= identity.birth_date <= date.today():
        raise BadRequest("The birth date is not plausible.", slug="invalid-birth-date")
    if another_person and not identity.jobcenter_customer_number:
        raise Unprocessable(
            "A different person with the same name and birth date is told apart by their "
            "jobcenter customer number: give it.",
            slug="customer-number-required",
        )


def register(
    session: Session,
    *,
    guard: AccessGuard,
    principal: Principal,
    sealer: Sealer,
    audit: AuditTrail,
    routing: Routing,
    identity: Identity,
    municipality_key: str | None,
    another_person: bool = False,
    trace_id: str | None = None,
) -> Registration:
    decision = guard.require(
        session, principal, Action.REGISTER_PERSON, about=NEW_PERSON, otherwise=_forbidden
    )
    _check(identity, another_person=another_person)
    organisation_id = principal.organisation_id
    if municipality_key is not None:
        organisation = organisations.get_organisation(session, organisation_id)
        assert organisation is not None  # the guard found it
        require_in_area(session, organisation=organisation, key=municipality_key, routing=routing)
    number = identity.jobcenter_customer_number or None
    subject, index = _match(
        session,
        sealer=sealer,
        organisation_id=organisation_id,
        identity=identity,
        number=number,
        another_person=another_person,
    )
    new_pseudonym = subject is None
    if subject is None:
        subject, new_pseudonym = _add_subject(
            session,
            sealer=sealer,
            identity=identity,
            index=index,
            municipality_key=municipality_key,
            organisation_id=organisation_id,
        )
    new_to_organisation = _register_with(
        session, sealer=sealer, subject=subject, organisation_id=organisation_id, number=number
    )
    audit.record(
        session,
        AuditEvent(
            type="subject.registered" if new_pseudonym else "subject.found",
            actor=principal.actor,
            subject_id=subject.id,
            policies=decision.policy_ids,
            policy_version=decision.policy_version,
            trace_id=trace_id,
            details={"new_to_organisation": new_to_organisation},
        ),
    )
    return Registration(subject=subject, created=new_to_organisation)


def _index(sealer: Sealer, identity: Identity, *, number: str | None) -> str:
    key = identity_key(
        given_name=identity.given_name,
        family_name=identity.family_name,
        birth_date=identity.birth_date,
    )
    if number is None:
        return sealer.blind_index(key, domain=INDEX_DOMAIN)
    return sealer.blind_index(f"{key}|{normalise_number(number)}", domain=NUMBERED_INDEX_DOMAIN)


def _numbers_held(session: Session, subject: Subject, *, sealer: Sealer, own: str) -> set[str]:
    """The customer numbers the pseudonym holds for the caller: the one it was registered
    with, and the one the caller's organisation gave."""
    registration = repository.registration(session, organisation_id=own, subject_id=subject.id)
    sealed = [subject.customer_number_sealed]
    if registration is not None:
        sealed.append(registration.customer_number_sealed)
    return {
        normalise_number(number)
        for value in sealed
        if (number := open_number(value, subject_id=subject.id, sealer=sealer))
    }


def _match(
    session: Session,
    *,
    sealer: Sealer,
    organisation_id: str,
    identity: Identity,
    number: str | None,
    another_person: bool,
) -> tuple[Subject | None, str]:
    """The person these attributes name, or None and the blind index to register them under."""
    plain_index = _index(sealer, identity, number=None)
    if number is None:
        return repository.find_by_index(session, plain_index), plain_index
    numbered_index = _index(sealer, identity, number=number)
    numbered = repository.find_by_index(session, numbered_index)
    if numbered is not None:
        return numbered, numbered_index
    plain = repository.find_by_index(session, plain_index)
    if plain is None:
        return None, plain_index
    held = _numbers_held(session, plain, sealer=sealer, own=organisation_id)
    if not held or normalise_number(number) in held:
        return plain, plain_index
    own = repository.registration(session, organisation_id=organisation_id, subject_id=plain.id)
    if own is not None and not another_person:
        raise _conflict()
    # Another person with the same name and birth date: never merged, told apart by number.
    return None, numbered_index


def _add_subject(
    session: Session,
    *,
    sealer: Sealer,
    identity: Identity,
    index: str,
    municipality_key: str | None,
    organisation_id: str,
) -> tuple[Subject, bool]:
    """The new subject, True; or the one another request registered a moment ago, False."""
    subject_id = new_id("sub")
    subject = Subject(
        id=subject_id,
        identity_index=index,
        identity_sealed=seal_identity(identity, subject_id=subject_id, sealer=sealer),
        customer_number_sealed=seal_number(
            identity.jobcenter_customer_number, subject_id=subject_id, sealer=sealer
        ),
        municipality_key=municipality_key,
        registered_by=organisation_id,
    )
    try:
        with session.begin_nested():
            repository.add(session, subject)
    except IntegrityError:
        # Registered by someone else a moment ago: the unique index decides.
        found = repository.find_by_index(session, index)
        assert found is not None
        return found, False
    return subject, True


def _register_with(
    session: Session, *, sealer: Sealer, subject: Subject, organisation_id: str, number: str | None
) -> bool:
    """Record that ``organisation_id`` registered or found ``subject``; True when it had not
    before. A number given is kept for that organisation if it had none."""
    existing = repository.registration(
        session, organisation_id=organisation_id, subject_id=subject.id
    )
    if existing is not None:
        if existing.customer_number_sealed is None and number:
            existing.customer_number_sealed = seal_number(
                number, subject_id=subject.id, sealer=sealer
            )
            session.add(existing)
        return False
    row = SubjectRegistration(
        organisation_id=organisation_id,
        subject_id=subject.id,
        customer_number_sealed=seal_number(number, subject_id=subject.id, sealer=sealer),
    )
    try:
        with session.begin_nested():
            repository.add_registration(session, row)
    except IntegrityError:
        return False  # the same organisation's parallel request registered it first
    return True
