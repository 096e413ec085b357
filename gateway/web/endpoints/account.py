"""Sign-in, sign-out, the language of staff pages, the start page, and the about page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from gateway.auth.signin_throttle import address_window, client_address
from gateway.dependencies import SessionDep
from gateway.organisations.models import Role
from gateway.web.accounts import PasswordCredentials, SigninFailed, SigninThrottled
from gateway.web.dependencies import (
    AnonymousForm,
    CheckedForm,
    CurrentViewer,
    StaffLanguage,
    WebDep,
)
from gateway.web.forms import EMAIL, N_, Form
from gateway.web.i18n import STAFF_LANGUAGES
from gateway.web.pages import WebRoute, redirect, render, safe_next
from gateway.web.rendering import KERN_PACKAGE, SECURITY_HEADERS
from gateway.web.sessions import CSRF_COOKIE, LANGUAGE_COOKIE, SESSION_COOKIE, new_token

router = APIRouter(route_class=WebRoute, include_in_schema=False)

HOME = {
    Role.INTEGRATION_MANAGER: "/web/persons",
    Role.JOBCENTER_STAFF: "/web/inbox",
    Role.DPO: "/web/audit",
    Role.ADMIN: "/web/audit",
}


@router.get("/web")
def home(viewer: CurrentViewer) -> Response:
    return redirect(HOME[viewer.role])


def _signin_page(
    request: Request,
    web: WebDep,
    *,
    form: Form,
    next_path: str,
    failed: bool = False,
    throttled: bool = False,
    signed_out: bool = False,
    status: int = 200,
) -> Response:
    cookie_name = web.cookies.name(CSRF_COOKIE)
    token = request.cookies.get(cookie_name) or new_token()
    response = render(
        request,
        web,
        "account/signin.html",
        viewer=None,
        status=status,
        form=form,
        next=next_path,
        failed=failed,
        throttled=throttled,
        signed_out=signed_out,
        csrf_token=token,
    )
    if request.cookies.get(cookie_name) != token:
        response.set_cookie(
            cookie_name, token, httponly=True, secure=web.cookies.secure, samesite="strict"
        )
    return response


@router.get("/web/signin")
def signin_form(
    request: Request, web: WebDep, next: str | None = None, signed_out: bool = False
) -> Response:
    return _signin_page(request, web, form=Form(), next_path=safe_next(next), signed_out=signed_out)


@router.post("/web/signin")
def signin(request: Request, web: WebDep, session: SessionDep, data: AnonymousForm) -> Response:
    form = Form.from_data(data)
    next_path = safe_next(form.text("next"))
    email = form.required("email", max_length=320)
    if email and not EMAIL.match(email):
        form.fail("email", N_("Please enter an e-mail address."))
    password = str(form.values.get("password", ""))
    if not password:
        form.fail("password", N_("Please fill in this field."))
    if not form.ok:
        return _signin_page(request, web, form=form, next_path=next_path, status=400)
    try:
        user = web.accounts.authenticate(
            session,
            credentials=PasswordCredentials(email=email, password=password),
            address=client_address(request.client.host if request.client else None),
            address_window=address_window(web.container.settings),
            trace_id=request.state.trace_id,
        )
    except SigninThrottled as throttled:
        # Nothing was checked or written: RFC 6585 section 4, with when to come back.
        response = _signin_page(
            request, web, form=form, next_path=next_path, throttled=True, status=429
        )
        response.headers["Retry-After"] = str(throttled.retry_after)
        return response
    except SigninFailed:
        session.commit()  # the failure and any lock are recorded even though sign-in fails
        return _signin_page(request, web, form=form, next_path=next_path, failed=True, status=401)
    cookie = web.sessions.start(session, user=user)
    session.commit()
    response = redirect(next_path if next_path != "/web/signin" else "/web")
    response.set_cookie(
        web.cookies.name(SESSION_COOKIE),
        cookie,
        httponly=True,
        secure=web.cookies.secure,
        samesite="lax",
        path="/",
    )
    return response


@router.post("/web/signout")
def signout(
    viewer: CurrentViewer, web: WebDep, session: SessionDep, _form: CheckedForm
) -> Response:
    web.sessions.end(session, id_hash=viewer.active.id_hash)
    session.commit()
    response = redirect("/web/signin?signed_out=true")
    response.delete_cookie(
        web.cookies.name(SESSION_COOKIE), secure=web.cookies.secure, httponly=True, samesite="lax"
    )
    return response


@router.get("/web/language/{language}")
def choose_language(language: str, web: WebDep, next: str | None = None) -> Response:
    response = redirect(safe_next(next))
    if language in STAFF_LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=365 * 24 * 3600,
            httponly=True,
            secure=web.cookies.secure,
            samesite="lax",
        )
    return response


@router.get("/about")
def about(
    request: Request, web: WebDep, language: StaffLanguage, lang: str | None = None
) -> Response:
    person = lang in web.person_languages and lang not in STAFF_LANGUAGES
    if lang in web.person_languages:
        language = str(lang)
    if person:
        request.state.person_language = language
    return render(
        request,
        web,
        "account/about.html",
        viewer=None,
        language=language,
        layout="person_base.html" if person else "base.html",
        languages=web.person_languages,
    )


@router.get("/about/licences/kern-ux")
def kern_licence() -> Response:
    """EUPL-1.2 section 5: the licence travels with every copy of KERN that we serve."""
    path = KERN_PACKAGE / "LICENSE.md"
    text = (
        path.read_text(encoding="utf-8")
        if path.is_file()
        else "KERN UX (@kern-ux/native) is licensed under the EUPL-1.2: "
        "https://interoperable-europe.ec.europa.eu/collection/eupl/eupl-text-eupl-12\n"
    )
    return PlainTextResponse(text, headers={**SECURITY_HEADERS, "Cache-Control": "max-age=3600"})
