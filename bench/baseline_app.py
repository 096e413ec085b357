"""The bare baseline of the HTTP benchmarks: the same server stack, no gateway work.

One FastAPI endpoint that does what any JSON API does for a request of the
same shape (parse and validate the body, read the bearer header, answer 201
with a small JSON document), served by uvicorn with the same options as
``gateway serve``. The gateway's figures are reported as ratios to this.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import FastAPI, Form, Header
from pydantic import BaseModel, ConfigDict

app = FastAPI()


class Ask(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_id: str
    question: str
    purpose: str
    parameters: dict[str, Any] | None = None


@app.post("/v1/queries", status_code=201)
def ask(
    body: Ask,
    authorization: Annotated[str, Header()],
    idempotency_key: Annotated[str, Header()],
) -> dict[str, str]:
    return {"id": f"qry_{secrets.token_hex(12)}", "status": "routed", "question": body.question}


@app.post("/oauth/token")
def token(
    grant_type: Annotated[str, Form()],
    client_assertion: Annotated[str, Form()],
) -> dict[str, Any]:
    return {"access_token": secrets.token_urlsafe(32), "token_type": "Bearer", "expires_in": 600}
