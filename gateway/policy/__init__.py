"""Policy capability: loads ``policies/`` (purposes, categories, question
catalogue, routing, Cedar rules) and decides every request by those rules.

The engine imports no FastAPI; HTTP routes live in ``endpoints`` and CLI
commands in ``cli``, which this package does not import.
"""

from gateway.policy.engine import (
    PolicyEngine,
    PolicyRequestError,
    UnknownQuestionError,
    remove_fields,
)
from gateway.policy.loader import PolicyLoadError, PolicyProblem, policy_version
from gateway.policy.models import (
    Action,
    AdapterKind,
    Catalogue,
    Category,
    ConsentFacts,
    ConsentStatus,
    Decision,
    Direction,
    EngineReason,
    Jobcenter,
    OrganisationKind,
    PolicyRequest,
    Principal,
    Purpose,
    QuestionType,
    Role,
    Routing,
)
from gateway.policy.testing import PolicyTestReport, run_policy_tests

__all__ = [
    "Action",
    "AdapterKind",
    "Catalogue",
    "Category",
    "ConsentFacts",
    "ConsentStatus",
    "Decision",
    "Direction",
    "EngineReason",
    "Jobcenter",
    "OrganisationKind",
    "PolicyEngine",
    "PolicyLoadError",
    "PolicyProblem",
    "PolicyRequest",
    "PolicyRequestError",
    "PolicyTestReport",
    "Principal",
    "Purpose",
    "QuestionType",
    "Role",
    "Routing",
    "UnknownQuestionError",
    "policy_version",
    "remove_fields",
    "run_policy_tests",
]
