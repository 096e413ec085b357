"""Words the pages show for the gateway's codes: statuses, channels, events, answer fields.

The catalogue brings its own labels for purposes, categories (every consent
language) and questions (German and English). Field names of answer schemas,
enum values, statuses and event types are codes; their words live here as
gettext ``msgid``s so translators find them in the catalogues. A field the
table does not know is shown by its code with underscores as spaces.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.policy.models import Catalogue
from gateway.web.forms import N_

FIELD_LABELS: Mapping[str, str] = {
    "receives_benefit": N_("Receives citizen's benefit"),
    "application_pending": N_("Application pending"),
    "approved_until": N_("Approved until"),
    "remarks": N_("Remarks"),
    "team": N_("Team"),
    "name": N_("Name"),
    "phone": N_("Phone"),
    "email": N_("E-mail"),
    "office_hours": N_("Office hours"),
    "appointments": N_("Appointments"),
    "starts_at": N_("Starts at"),
    "kind": N_("Kind"),
    "location": N_("Location"),
    "attendance_required": N_("Attendance required"),
    "contact_name": N_("Contact person"),
    "current_measures": N_("Current measures"),
    "planned_measures": N_("Planned measures"),
    "title": N_("Title"),
    "provider": N_("Provider"),
    "starts_on": N_("Starts on"),
    "ends_on": N_("Ends on"),
    "course_obligation": N_("Course obligation"),
    "obliged": N_("Obliged to attend"),
    "course": N_("Course"),
    "obliged_since": N_("Obliged since"),
    "health_restrictions": N_("Health restrictions"),
    "restrictions_known": N_("Restrictions known"),
    "summary": N_("Summary"),
    "medical_assessment_on": N_("Medical assessment on"),
    "employer_name": N_("Employer"),
    "employer_postal_code": N_("Employer's postal code"),
    "position_title": N_("Position"),
    "weekly_hours": N_("Hours per week"),
    "gross_monthly_wage_eur": N_("Gross monthly wage (EUR)"),
    "fixed_term_months": N_("Fixed term (months)"),
    "assessment": N_("Assessment"),
    "subsidy_percent_max": N_("Subsidy at most (percent)"),
    "duration_months_max": N_("Duration at most (months)"),
    "application_by": N_("Apply by"),
    "contact": N_("Contact"),
    "employment_starts_on": N_("Employment starts on"),
    "first_wage_payment_on": N_("First wage payment on"),
    "status": N_("Status"),
    "amount_eur": N_("Amount (EUR)"),
    "paid_on": N_("Paid on"),
    "benefit_continues": N_("Citizen's benefit continues"),
    "text": N_("Message"),
    "plan_updated_on": N_("Plan updated on"),
    "goals": N_("Goals"),
    "goal": N_("Goal"),
    "due_on": N_("Due on"),
    "cefr_level": N_("Level (CEFR)"),
    "certificate": N_("Certificate"),
    "certified_on": N_("Certified on"),
    "course_attending": N_("Attending a course"),
}

ENUM_LABELS: Mapping[str, str] = {
    "counselling": N_("Counselling"),
    "placement": N_("Placement"),
    "benefit_interview": N_("Benefit interview"),
    "measure_start": N_("Start of a measure"),
    "other": N_("Other"),
    "integration_course": N_("Integration course"),
    "job_related_language_course": N_("Job-related language course"),
    "none": N_("None"),
    "likely": N_("Likely"),
    "unlikely": N_("Unlikely"),
    "needs_review": N_("Needs review"),
    "not_applied": N_("Not applied for"),
    "pending": N_("Pending"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "open": N_("Open"),
    "in_progress": N_("In progress"),
    "reached": N_("Reached"),
    "dropped": N_("Dropped"),
    "dtz": N_("DTZ"),
    "telc": N_("telc"),
    "goethe": N_("Goethe-Institut"),
}

STATUS_LABELS: Mapping[str, str] = {
    # consents
    "pending": N_("waiting for confirmation"),
    "active": N_("active"),
    "paused": N_("paused"),
    "withdrawn": N_("withdrawn"),
    "revoked": N_("revoked"),
    "expired": N_("expired"),
    "superseded": N_("replaced by a new version"),
    # queries
    "received": N_("received"),
    "denied": N_("denied"),
    "routed": N_("waiting for an answer"),
    "answered": N_("answered"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
}

STATUS_BADGES: Mapping[str, str] = {
    "active": "success",
    "answered": "success",
    "pending": "info",
    "routed": "info",
    "received": "info",
    "withdrawn": "danger",
    "revoked": "danger",
    "denied": "danger",
    "failed": "danger",
    "expired": "warning",
    "paused": "warning",
    "cancelled": "warning",
    "superseded": "warning",
}

EVIDENCE_LABELS: Mapping[str, str] = {
    "screen_signature": N_("Signature drawn on screen"),
    "own_phone": N_("Confirmation on the person's own phone"),
    "paper_signature": N_("Signature on paper"),
}

REPRESENTATIVE_LABELS: Mapping[str, str] = {
    "parent": N_("Parent"),
    "guardian": N_("Guardian (Vormund)"),
    "carer": N_("Carer (Pfleger)"),
}

REVOCATION_LABELS: Mapping[str, str] = {
    "in_person": N_("in person"),
    "phone": N_("by phone"),
    "letter": N_("by letter"),
    "email": N_("by e-mail"),
}

DIRECTION_LABELS: Mapping[str, str] = {
    "municipality_asks_jobcenter": N_("The municipality asks the jobcenter"),
    "jobcenter_asks_municipality": N_("The jobcenter asks the municipality"),
}

MEASURE_LABELS: Mapping[str, str] = {
    "questions": N_("questions asked"),
    "denied": N_("questions denied"),
    "out_of_hours": N_("questions out of hours"),
    "persons": N_("persons asked about"),
}

ROLE_LABELS: Mapping[str, str] = {
    "integration_manager": N_("Integration management"),
    "jobcenter_staff": N_("Jobcenter"),
    "dpo": N_("Data protection officer"),
    "admin": N_("Operator"),
}


def field_label(key: str) -> str:
    return FIELD_LABELS.get(key, key.replace("_", " "))


def enum_label(value: str) -> str:
    return ENUM_LABELS.get(value, value)


def purpose_label(catalogue: Catalogue, purpose_id: str, language: str) -> str:
    purpose = catalogue.purposes.get(purpose_id)
    if purpose is None:
        return purpose_id
    return purpose.labels.get(language) or purpose.labels.get("en") or purpose_id


def category_label(catalogue: Catalogue, category_id: str, language: str) -> str:
    category = catalogue.categories.get(category_id)
    if category is None:
        return category_id
    return category.labels.get(language) or category.labels.get("en") or category_id


def question_label(catalogue: Catalogue, question_id: str, language: str) -> str:
    question = catalogue.questions.get(question_id)
    if question is None:
        return question_id
    return question.labels.get(language) or question.labels.get("en") or question_id
