"""The console's pages: server-rendered HTML (Jinja2, autoescaped) with a little htmx.

A request with `HX-Request` gets only the page's `content` block (jinja2-fragments), a plain
request the whole page, so every page also works without JavaScript. Every POST carries the
session's CSRF token (a hidden `csrf_token` field, or the `X-CSRF-Token` header that htmx sends);
the sign-in form, before any session, a double-submit token. A refused form comes back as 400
with each service error next to the field it names; a form carries its command id, so a second
click sends the same command and the service answers it as done before.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2_fragments.fastapi import Jinja2Blocks
from starlette.datastructures import FormData, UploadFile

from contracts.envelope import FORM_NUMBER_PATTERN
from services.common.auth import Principal
from services.console.application import MAX_UPLOAD_BYTES, ServiceError, TokenRejected
from services.console.catalog import HERE, LANGUAGES, FormSpec, resolve, translator
from services.console.domain.forms import Field, FormError, body_of, errors_by_field, fields_of
from services.console.domain.users import authenticate
from services.console.policies import Offer, find_offer, offers
from services.console.sessions import Session

router = APIRouter()
templates = Jinja2Blocks(directory=str(HERE / "templates"))


def localtime(value: Any, zone: ZoneInfo) -> str:
    """A time in company time, to the minute (`2026-12-07 09:30`); a naive one as it is."""
    if not value:
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


templates.env.filters["localtime"] = localtime

SESSION_COOKIE = "console_session"
LOGIN_COOKIE = "console_login"
LANGUAGE_COOKIE = "console_lang"
UUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
REF_RE = rf"^({UUID_RE}|{FORM_NUMBER_PATTERN[1:-1]})$"
STEP_RE = r"^[a-z]+/[a-z-]+$"
#: A month of this century, as analytics takes it (YYYY-MM).
MONTH_RE = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"
SHA_RE = r"^[0-9a-f]{64}$"

HTML = {"content": {"text/html": {}}}
#: What every page may answer besides 200 (the OpenAPI lists them, schemathesis holds it to them).
PAGE = {303: {"description": "To the sign-in page when not signed in"},
        404: {"description": "Not found, or outside the user's scope", **HTML},
        422: {"description": "A path or query value of the wrong form", **HTML},
        502: {"description": "A service answered with an error the page cannot show", **HTML},
        503: {"description": "A service cannot be reached", **HTML}}
POST = {303: {"description": "Done: on to the next page"},
        400: {"description": "The form was refused: each error next to its field", **HTML},
        403: {"description": "No valid CSRF token, or the step is not the user's to take now", **HTML},
        404: PAGE[404], 409: {"description": "The complaint is not in a state for this step", **HTML},
        413: {"description": "An uploaded file is too large", **HTML},
        422: PAGE[422], 502: PAGE[502], 503: PAGE[503]}


def form_body(*names: str, multipart: bool = False) -> dict[str, Any]:
    """The OpenAPI of a form a page posts: the named fields and, for a step's form, whatever fields its
    service's body schema gives (the console reads them from the service's own OpenAPI)."""
    schema = {"type": "object", "properties": {n: {"type": "string"} for n in ("csrf_token", *names)},
              "additionalProperties": {"type": "string"}}
    media = "multipart/form-data" if multipart else "application/x-www-form-urlencoded"
    return {"requestBody": {"required": False, "content": {media: {"schema": schema}}}}


class Redirect(Exception):
    def __init__(self, url: str):
        self.url = url


class PageError(Exception):
    """A page that cannot be shown: its status and the message shown."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def state(request: Request) -> Any:
    return request.app.state.console


def language_of(request: Request, session: Session | None = None) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE) or (session.language if session else None)
    return chosen if chosen in LANGUAGES else state(request).settings.default_language


def session_of(request: Request) -> Session | None:
    return state(request).sessions.get(request.cookies.get(SESSION_COOKIE))


def _next_url(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


async def signed_in(request: Request) -> Session:
    session = session_of(request)
    if session is None:
        raise Redirect("/login?next=" + quote(_next_url(request), safe=""))
    return session


CurrentSession = Annotated[Session, Depends(signed_in)]


def principal_of(session: Session) -> Principal:
    return Principal(session.user_id, session.role, session.branch, session.region)


def safe_next(url: str | None) -> str:
    """Only a path of this site (no scheme, no host, no `//`): an open redirect is refused."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/inbox"
    parts = urlsplit(url)
    return "/inbox" if parts.scheme or parts.netloc else url


def zone(request: Request) -> ZoneInfo:
    return state(request).zone


def render(request: Request, template: str, context: Mapping[str, Any], status: int = 200,
           session: Session | None = None) -> HTMLResponse:
    language = language_of(request, session)
    ctx = {"request": request, "t": translator(language), "lang": language, "session": session,
           "csrf": session.csrf if session else None, "zone": zone(request), **context}
    # htmx refreshing a page in place (the inbox, every minute) asks for its content block only
    fragment = request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true" \
        and request.headers.get("HX-Target") == "content"
    response = templates.TemplateResponse(request, template, ctx, status_code=status,
                                          block_name="content" if fragment else None)
    response.headers["Cache-Control"] = "no-store"
    return response


def check_csrf(session: Session, form: FormData, request: Request) -> None:
    token = form.get("csrf_token") or request.headers.get("X-CSRF-Token")
    if not session.csrf_ok(str(token) if token else None):
        raise PageError(403, translator(language_of(request, session))("error.csrf"))


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def service_error_page(e: ServiceError) -> Exception:
    """The page for a service's refusal; a rejected token stays itself (the session ends, see bootstrap)."""
    if isinstance(e, TokenRejected):
        return e
    if e.status in (401, 403):
        return PageError(403, f"{e.service}: {_detail_text(e.detail)}")
    if e.status == 404:
        return PageError(404, f"{_detail_text(e.detail)}")
    if e.status == 503:
        return PageError(503, _detail_text(e.detail))
    return PageError(502, f"{e.service} {e.status}: {_detail_text(e.detail)}")


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(str(d.get("msg", d)) if isinstance(d, Mapping) else str(d) for d in detail)
    return str(detail)


# --- signing in and out ---------------------------------------------------------------------------

@router.get("/login", response_class=HTMLResponse, responses={303: PAGE[303], 422: PAGE[422]})
async def login_page(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    """The sign-in form (or, with an identity provider configured, the way to it)."""
    if session_of(request) is not None:
        return see_other(safe_next(next))
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"next": safe_next(next), "login_csrf": token,
                                              "oidc": state(request).settings.oidc, "error": None})
    set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600)
    return response


@router.post("/login", status_code=303, response_class=RedirectResponse, 
             responses={303: {"description": "Signed in"}, 400: POST[400], 403: POST[403], 429: {
                 "description": "Too many failed sign-ins for this user: wait", **HTML}},
             openapi_extra=form_body("user", "password", "next"))
async def login(request: Request) -> Response:
    """Check the user id and password against the users file; start a session."""
    form = await request.form()
    console = state(request)
    t = translator(language_of(request))
    login_token = request.cookies.get(LOGIN_COOKIE)
    sent = str(form.get("csrf_token") or "")
    if not login_token or not hmac.compare_digest(login_token.encode(), sent.encode()):
        raise PageError(403, t("error.csrf"))
    user_id = str(form.get("user") or "").strip()[:200]
    password = str(form.get("password") or "")[:1000]
    next_url = safe_next(str(form.get("next") or ""))
    if console.throttle.blocked(user_id):
        return render(request, "login.html", {"next": next_url, "login_csrf": login_token, "oidc": False,
                                              "error": t("login.paused"), "user": user_id}, status=429)
    user = await asyncio.to_thread(authenticate, console.users, user_id, password) if user_id and password else None
    if user is None:
        console.throttle.failed(user_id)
        return render(request, "login.html", {"next": next_url, "login_csrf": login_token, "oidc": False,
                                              "error": t("login.failed"), "user": user_id}, status=400)
    console.throttle.succeeded(user_id)
    token = console.mint(user)
    session_id, _ = console.sessions.create(user_id=user.user_id, name=user.name, role=user.role,
                                            branch=user.branch, region=user.region, token=token,
                                            ttl=console.ttl, language=language_of(request))
    response = see_other(next_url)
    set_cookie(request, response, SESSION_COOKIE, session_id, max_age=int(console.ttl.total_seconds()))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout", status_code=303, response_class=RedirectResponse, openapi_extra=form_body(),
             responses={303: {"description": "Signed out"}, 403: POST[403]})
async def logout(request: Request, session: CurrentSession) -> Response:
    """End the session: its row is deleted, so the cookie is worth nothing after."""
    form = await request.form()
    check_csrf(session, form, request)
    state(request).sessions.delete(request.cookies.get(SESSION_COOKIE))
    response = see_other("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=state(request).settings.cookie_secure)


@router.get("/language/{code}", status_code=303, response_class=RedirectResponse, responses={303: {"description": "Back to the page, in that language"},
                                           422: PAGE[422]})
async def choose_language(request: Request, code: Annotated[str, Path(pattern="^(zh|en)$")],
                          next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    """Show the console in Chinese (zh) or English (en) from now on."""
    response = see_other(safe_next(next))
    response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 86400, path="/", samesite="lax",
                        secure=state(request).settings.cookie_secure, httponly=True)
    return response


# --- the inbox ------------------------------------------------------------------------------------

@router.get("/", status_code=303, response_class=RedirectResponse, responses={303: {"description": "To the inbox"}})
async def home() -> Response:
    return see_other("/inbox")


@router.get("/inbox", response_class=HTMLResponse, responses=PAGE)
async def inbox(request: Request, session: CurrentSession) -> Response:
    """What waits for me or my role, oldest deadline first (overdue marked, the due time explained on
    hover), and my unread notices."""
    services = state(request).services
    try:
        work, notices = await asyncio.gather(services.get("hq", "/inbox", session.token),
                                              services.optional("notify", "/inbox", session.token))
    except ServiceError as e:
        raise service_error_page(e) from None
    explanations = await _explanations(request, session, work.get("items", []))
    unread = [n for n in (notices or {}).get("items", []) if not n.get("read")]
    return render(request, "inbox.html", {"work": work, "unread": unread, "explanations": explanations},
                  session=session)


async def _explanations(request: Request, session: Session, items: list[Mapping[str, Any]]) -> dict[str, str]:
    """Why each inbox item is due when it is: routing's calculation of the deadline of its kind."""
    services = state(request).services
    wanted = list(dict.fromkeys(i["complaint_id"] for i in items if i.get("deadline_kind")))[:30]
    answers = await asyncio.gather(*(services.optional("routing", f"/complaints/{cid}/deadlines", session.token)
                                     for cid in wanted), return_exceptions=True)
    out: dict[str, str] = {}
    for cid, answer in zip(wanted, answers):
        if isinstance(answer, Mapping):
            for d in answer.get("deadlines", []):
                if d.get("status") == "open" and d.get("steps"):
                    out[f"{cid}:{d['kind']}"] = d["steps"][-1] if len(d["steps"]) == 1 else "\n".join(d["steps"])
    return out


@router.post("/notices/{notice_id}/{what}", status_code=303, response_class=RedirectResponse, responses=POST,
             openapi_extra=form_body("next"))
async def notice_step(request: Request, session: CurrentSession, notice_id: Annotated[str, Path(pattern=f"^{UUID_RE}$")],
                      what: Annotated[str, Path(pattern="^(read|acknowledgement)$")]) -> Response:
    """Mark a notice read, or acknowledge a mandatory one."""
    form = await request.form()
    check_csrf(session, form, request)
    try:
        await state(request).services.post("notify", f"/inbox/{notice_id}/{what}", session.token, None)
    except ServiceError as e:
        raise service_error_page(e) from None
    return see_other(safe_next(str(form.get("next") or "/inbox")))


# --- search and the complaint's page --------------------------------------------------------------

@router.get("/complaints", response_class=HTMLResponse, responses=PAGE)
async def search(request: Request, session: CurrentSession,
                 q: Annotated[str | None, Query(max_length=200)] = None,
                 stage: Annotated[str | None, Query(max_length=40, pattern="^[a-z_]*$")] = None,
                 subject: Annotated[str | None, Query(max_length=40, pattern="^[a-z_]*$")] = None,
                 overdue: Annotated[bool | None, Query()] = None,
                 cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    """Find complaints: full text (Chinese too), form number, or filters; newest first."""
    params = {"q": (q or "").strip() or None, "stage": stage or None, "subject": subject or None,
              "overdue": overdue, "cursor": cursor, "limit": 50}
    try:
        found = await state(request).services.get("hq", "/complaints", session.token, **params)
    except ServiceError as e:
        if e.status == 422:
            found = {"items": [], "next_cursor": None, "error": _detail_text(e.detail)}
        else:
            raise service_error_page(e) from None
    return render(request, "complaints.html", {"found": found, "query": params}, session=session)


@router.get("/complaints/{ref}", response_class=HTMLResponse, responses=PAGE)
async def complaint_page(request: Request, session: CurrentSession,
                         ref: Annotated[str, Path(pattern=REF_RE, max_length=40)]) -> Response:
    """A complaint: where it stands, who must act by when, the steps this user may take now, its
    merged timeline, approvals, evidence, ledger and notices."""
    try:
        view = await state(request).services.complaint_view(ref, session.token)
    except ServiceError as e:
        raise service_error_page(e) from None
    mine = offers(principal_of(session), view["complaint"], state(request).catalogue,
                  {"ledger": view.get("ledger") or {}, "investigation": view.get("investigation") or {}})
    explanations = {}
    for d in (view.get("deadlines") or {}).get("deadlines", []):
        if d.get("status") == "open":
            explanations[d["kind"]] = "\n".join(d.get("steps") or ())
    awaited = view["complaint"].get("awaited_actions") or []
    notices = [a for a in awaited if str(a.get("source") or "").startswith("notify:")]
    return render(request, "complaint.html", {
        **view, "offers": mine, "explanations": explanations, "notices_awaited": notices,
        "steps_awaited": [a for a in awaited if a not in notices]}, session=session)


@router.get("/evidence/{sha256}", response_class=Response,
            responses={200: {"content": {"image/*": {}, "application/pdf": {}}}, **PAGE})
async def evidence(request: Request, session: CurrentSession, sha256: Annotated[str, Path(pattern=SHA_RE)]) -> Response:
    """A stored photo or scan, read from quality with the user's token (the thumbnails' source)."""
    try:
        stored = await state(request).services.evidence(session.token, sha256)
    except ServiceError as e:
        raise service_error_page(e) from None
    media = stored.headers.get("content-type", "application/octet-stream")
    return Response(stored.content, media_type=media, headers={
        "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


# --- steps ----------------------------------------------------------------------------------------

async def _step_context(request: Request, session: Session, ref: str, key: str,
                        target: str | None) -> tuple[dict[str, Any], Offer, list[Field], dict[str, Any]]:
    services = state(request).services
    try:
        view = await services.complaint_view(ref, session.token)
    except ServiceError as e:
        raise service_error_page(e) from None
    offer = find_offer(principal_of(session), view["complaint"], state(request).catalogue, key, target,
                       {"ledger": view.get("ledger") or {}, "investigation": view.get("investigation") or {}})
    if offer is None:
        raise PageError(403, translator(language_of(request, session))("error.not_yours"))
    try:
        schema, components = await services.body_schema(offer.form)
    except ServiceError as e:
        raise service_error_page(e) from None
    context = {"investigation": view.get("investigation") or {}, "ledger": view.get("ledger") or {},
               "complaint": view["complaint"], "role": session.role, "revision": 1,
               "history": _latest_by_type(view.get("history"))}
    skip = {"command_id", "complaint_id", "correlation_id", *offer.form.prefill}
    # An optional id the user cannot know (a memo a form may cite) is left out; a required one the
    # catalogue does not fill stays, as a text input.
    fields = [f for f in fields_of(schema, components, skip=skip) if f.kind != "hidden" or f.required]
    return view, offer, fields, context


def _latest_by_type(history: Mapping[str, Any] | None) -> dict[str, Any]:
    latest: dict[str, Any] = {}
    for event in (history or {}).get("events", []):
        latest[event["event_type"]] = event.get("changes") or {}
    return latest


def _fill(fields: list[Field], form: FormSpec, context: Mapping[str, Any]) -> None:
    for f in fields:
        if f.key in form.fill:
            f.value = resolve(form.fill[f.key], context)


@router.get("/complaints/{ref}/steps/{service}/{segment}", response_class=HTMLResponse, responses=PAGE)
async def step_form(request: Request, session: CurrentSession, ref: Annotated[str, Path(pattern=REF_RE, max_length=40)],
                    service: Annotated[str, Path(pattern="^[a-z]+$")], segment: Annotated[str, Path(pattern="^[a-z-]+$")],
                    target: Annotated[str | None, Query(pattern=f"^{UUID_RE}$")] = None) -> Response:
    """The form of one step this user may take on the complaint now."""
    view, offer, fields, context = await _step_context(request, session, ref, f"{service}/{segment}", target)
    _fill(fields, offer.form, context)
    return render(request, "step.html", {"view": view, "offer": offer, "fields": fields, "errors": {},
                                         "general": [], "values": {}, "command_id": str(uuid.uuid4()),
                                         "uploaded": {}}, session=session)


@router.post("/complaints/{ref}/steps/{service}/{segment}", status_code=303, response_class=RedirectResponse,
             responses=POST, openapi_extra=form_body("command_id", multipart=True))
async def take_step(request: Request, session: CurrentSession, ref: Annotated[str, Path(pattern=REF_RE, max_length=40)],
                    service: Annotated[str, Path(pattern="^[a-z]+$")], segment: Annotated[str, Path(pattern="^[a-z-]+$")],
                    target: Annotated[str | None, Query(pattern=f"^{UUID_RE}$")] = None) -> Response:
    """Take the step: the form becomes the service's request body, sent with the user's token."""
    form_data = await request.form(max_part_size=MAX_UPLOAD_BYTES)
    check_csrf(session, form_data, request)
    view, offer, fields, context = await _step_context(request, session, ref, f"{service}/{segment}", target)
    values, lists, command_id = submitted(form_data)
    uploaded, upload_errors = await _uploads(request, session, fields, form_data)
    for name, shas in uploaded.items():
        lists[name] = list(dict.fromkeys([*lists.get(name, []), *shas]))
    t = translator(language_of(request, session))
    errors: dict[str, str] = dict(upload_errors)
    general: list[str] = []
    status = 400
    try:
        body = body_of(fields, values, zone(request), lists=lists) if offer.form.body else None
    except FormError as e:
        errors.update(e.errors)
        body = None
    if not errors:
        if body is not None:
            body = {**body, **{k: resolve(v, context) for k, v in offer.form.prefill.items()},
                    "command_id": command_id}
            body = {k: v for k, v in body.items() if v is not None}
        cid = view["complaint"]["complaint_id"]
        try:
            await state(request).services.post(offer.form.service, offer.form.url_path(cid, offer.target),
                                               session.token, body)
            return see_other(f"/complaints/{view['complaint']['form_number']}?done={quote(offer.form.segment)}")
        except ServiceError as e:
            if e.status == 422:
                errors, general = errors_by_field(e.detail, fields)
            elif e.status == 409:
                general, status = [t("error.conflict", detail=_detail_text(e.detail))], 409
            elif e.status in (403, 404):
                general, status = [_detail_text(e.detail)], e.status
            else:
                raise service_error_page(e) from None
    shown = {name: shas for name, shas in lists.items() if any(re.fullmatch(SHA_RE, s) for s in shas)}
    return render(request, "step.html", {"view": view, "offer": offer, "fields": fields, "errors": errors,
                                         "general": general, "values": values, "lists": lists,
                                         "command_id": command_id, "uploaded": shown},
                  status=status, session=session)


async def _uploads(request: Request, session: Session, fields: list[Field],
                   form: FormData) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Each file of a file input stored at quality as evidence, by input name: their SHA-256s."""
    out: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    services = state(request).services
    for f in (f for top in fields for f in top.walk() if f.kind == "files"):
        for upload in form.getlist(f.name):
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue
            data = await upload.read()
            if not data:
                continue
            try:
                sha = await services.upload_evidence(session.token, upload.filename, data, upload.content_type or "")
            except ServiceError as e:
                errors[f.name] = f"{upload.filename}: {_detail_text(e.detail)}"
                continue
            out.setdefault(f.name, []).append(sha)
    return out, errors


# --- registering a complaint ----------------------------------------------------------------------

REGISTER_SKIP = ("command_id", "correlation_id", "read_back_confirmed", "branch")


async def _register_fields(request: Request, correction: bool = False) -> list[Field]:
    """The registration form's fields, from intake's own schema (of a correction: with its reason)."""
    try:
        api = await state(request).services.openapi("intake")
    except ServiceError as e:
        raise service_error_page(e) from None
    path = "/complaints/{complaint_id}/corrections" if correction else "/complaints"
    operation = api["paths"][path]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return fields_of(schema, api.get("components", {}).get("schemas", {}), skip=REGISTER_SKIP)


def _may_register(session: Session) -> bool:
    from services.common.access import may
    return may(principal_of(session), "complaint.register")


def _branches(session: Session) -> list[str]:
    from services.common.access import rules
    if session.branch:
        return [session.branch]
    return sorted(rules().branch_region)


@router.get("/register", response_class=HTMLResponse, responses={**PAGE, 403: POST[403]})
async def register_form(request: Request, session: CurrentSession,
                        subject: Annotated[str | None, Query(max_length=40, pattern="^[a-z_]*$")] = None) -> Response:
    """The registration form, as a clerk fills it on the phone; the product fields only for a product
    complaint (htmx swaps them in when the subject changes)."""
    if not _may_register(session):
        raise PageError(403, translator(language_of(request, session))("error.not_yours"))
    fields = await _register_fields(request)
    for f in fields:
        if f.key == "product" and subject == "product_quality":
            f.require()
    now = datetime.now(zone(request)).strftime("%Y-%m-%dT%H:%M")
    values = {"received_at": now, "channel": "phone", "severity": "general", "kind": "complaint",
              "subject": subject or ""}
    return render(request, "register.html", {"fields": fields, "values": values, "lists": {}, "errors": {},
                                             "general": [], "command_id": str(uuid.uuid4()),
                                             "branches": _branches(session)}, session=session)


@router.post("/register", status_code=303, response_class=RedirectResponse, responses=POST,
             openapi_extra=form_body("command_id", "branch", "subject"))
async def register(request: Request, session: CurrentSession) -> Response:
    """Take the record (not yet registered: the customer hears it read back first); to the read-back."""
    form_data = await request.form()
    check_csrf(session, form_data, request)
    if not _may_register(session):
        raise PageError(403, translator(language_of(request, session))("error.not_yours"))
    return await _send_record(request, session, form_data)


def submitted(form_data: FormData) -> tuple[dict[str, str], dict[str, list[str]], str]:
    """A posted form's text values (the last of each name), every value by name (checkboxes, files'
    hashes), and its command id (a new one if it carries none that is a UUID)."""
    values = {k: v for k, v in form_data.multi_items() if isinstance(v, str)}
    lists = {k: [v for v in form_data.getlist(k) if isinstance(v, str)] for k in form_data.keys()}
    command_id = values.get("command_id", "")
    return values, lists, command_id if re.fullmatch(UUID_RE, command_id) else str(uuid.uuid4())


async def _send_record(request: Request, session: Session, form_data: FormData, *,
                       taken: Mapping[str, Any] | None = None) -> Response:
    """Send the registration form to intake: a new record (`POST /complaints`), or the correction of
    the record `taken` before its read-back. On to the read-back; refused, the form again with each
    error next to its field."""
    correcting = taken is not None
    fields = await _register_fields(request, correction=correcting)
    values, lists, command_id = submitted(form_data)
    branch = taken["record"]["branch"] if taken is not None else values.get("branch") or (session.branch or "")
    if values.get("subject") != "product_quality":
        fields = [f for f in fields if f.key != "product"]
    for f in fields:
        if f.key == "product":
            f.require()
    errors: dict[str, str] = {}
    general: list[str] = []
    status = 400
    try:
        body = body_of(fields, values, zone(request), lists=lists)
    except FormError as e:
        errors, body = e.errors, None
    if body is not None:
        body |= {"branch": branch, "command_id": command_id}
        path = f"/complaints/{taken['complaint_id']}/corrections" if taken is not None else "/complaints"
        try:
            receipt = await state(request).services.post("intake", path, session.token, body)
            complaint_id = taken["complaint_id"] if taken is not None else receipt["complaint_id"]
            return see_other(f"/register/{complaint_id}/read-back")
        except ServiceError as e:
            if e.status == 422:
                errors, general = errors_by_field(e.detail, [*fields, Field("branch", "select")])
            elif e.status in (403, 404, 409):
                general, status = [_detail_text(e.detail)], e.status
            else:
                raise service_error_page(e) from None
    context = {**(taken or {}), "correcting": correcting,
               "branches": [branch] if correcting else _branches(session)}
    return render(request, "register.html", {**context, "fields": fields, "values": values, "lists": lists,
                                             "errors": errors, "general": general, "command_id": command_id},
                  status=status, session=session)


@router.get("/register/product-fields", response_class=HTMLResponse, responses=PAGE)
async def product_fields(request: Request, session: CurrentSession,
                         subject: Annotated[str | None, Query(max_length=40, pattern="^[a-z_]*$")] = None) -> Response:
    """The product fieldset, for a product complaint; empty otherwise (htmx swaps it in)."""
    fields = [f for f in await _register_fields(request) if f.key == "product"]
    for f in fields:
        f.require()
    return render(request, "_product.html", {"fields": fields if subject == "product_quality" else [],
                                             "values": {}, "errors": {}, "lists": {}}, session=session)


async def _taken(request: Request, session: Session, complaint_id: str) -> dict[str, Any]:
    """The record as intake holds it (taken, corrected, read back), from intake's history."""
    try:
        history = await state(request).services.get("intake", f"/complaints/{complaint_id}/history", session.token)
    except ServiceError as e:
        raise service_error_page(e) from None
    record: dict[str, Any] = {}
    revision, form_number, read_back = 1, None, False
    for event in history.get("events", []):
        form_number = (event.get("meta") or {}).get("form_number") or form_number
        data = event.get("data") or {}
        if event["event_type"] in ("Taken", "Registered"):
            record.update(data)
        elif event["event_type"] == "Corrected":
            record.update(data.get("record") or {})
            revision = int(data.get("revision") or revision + 1)
        if event["event_type"] in READ_BACK_OVER:
            read_back = True
    if not record:
        raise PageError(404, "not found")
    return {"record": record, "revision": revision, "form_number": form_number, "complaint_id": complaint_id,
            "registered": read_back}


#: Intake's events after which the read-back is over (registered, or why it could not be read back).
READ_BACK_OVER = frozenset({"Registered", "ReadBackConfirmed", "ReadBackImpossible", "Released", "ClosedAtIntake",
                            "Withdrawn"})


def _as_values(record: Mapping[str, Any], zone_: ZoneInfo, prefix: str = "") -> dict[str, str]:
    """A stored record as the registration form's input values (`customer.name`, company time)."""
    values: dict[str, str] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            values |= _as_values(value, zone_, f"{name}.")
        elif key == "received_at" and value:
            values[name] = localtime(value, zone_).replace(" ", "T")
        elif value is not None and not isinstance(value, (list, bool)):
            values[name] = str(value)
    return values


@router.get("/register/{complaint_id}/correction", response_class=HTMLResponse, responses={**PAGE, 409: POST[409]})
async def correction_form(request: Request, session: CurrentSession,
                          complaint_id: Annotated[str, Path(pattern=f"^{UUID_RE}$")]) -> Response:
    """The record as taken, to correct what the customer says is wrong when it is read back."""
    taken = await _taken(request, session, complaint_id)
    if taken["registered"]:
        raise PageError(409, translator(language_of(request, session))("readback.already"))
    fields = await _register_fields(request, correction=True)
    record = taken["record"]
    for f in fields:
        if f.key == "product" and record.get("subject") == "product_quality":
            f.require()
    values = _as_values(record, zone(request))
    lists = {"serious_reasons": list(record.get("serious_reasons") or [])}
    return render(request, "register.html", {**taken, "fields": fields, "values": values, "lists": lists,
                                             "errors": {}, "general": [], "command_id": str(uuid.uuid4()),
                                             "branches": [record["branch"]], "correcting": True}, session=session)


@router.post("/register/{complaint_id}/correction", status_code=303, response_class=RedirectResponse, responses=POST,
             openapi_extra=form_body("command_id", "reason", "subject"))
async def correct(request: Request, session: CurrentSession,
                  complaint_id: Annotated[str, Path(pattern=f"^{UUID_RE}$")]) -> Response:
    """Correct the record before its read-back (a new revision, read back again)."""
    form_data = await request.form()
    check_csrf(session, form_data, request)
    taken = await _taken(request, session, complaint_id)
    return await _send_record(request, session, form_data, taken=taken)


@router.get("/register/{complaint_id}/read-back", response_class=HTMLResponse, responses=PAGE)
async def read_back_page(request: Request, session: CurrentSession,
                         complaint_id: Annotated[str, Path(pattern=f"^{UUID_RE}$")]) -> Response:
    """The record in plain words, read back to the customer to confirm; the form number at once."""
    taken = await _taken(request, session, complaint_id)
    return render(request, "readback.html", {**taken, "command_id": str(uuid.uuid4()), "errors": {},
                                             "general": [], "values": {}}, session=session)


@router.post("/register/{complaint_id}/read-back", status_code=303, response_class=RedirectResponse, responses=POST,
             openapi_extra=form_body("command_id", "outcome", "confirmed_by", "not_possible", "explanation"))
async def read_back(request: Request, session: CurrentSession,
                    complaint_id: Annotated[str, Path(pattern=f"^{UUID_RE}$")]) -> Response:
    """Record the read-back: the customer confirmed (by whom), or why it could not be done."""
    form = await request.form()
    check_csrf(session, form, request)
    taken = await _taken(request, session, complaint_id)
    values, _, command_id = submitted(form)
    body: dict[str, Any] = {"command_id": command_id, "record_revision": taken["revision"]}
    if values.get("outcome") == "not_possible":
        body |= {"not_possible": values.get("not_possible") or None, "explanation": values.get("explanation") or None}
    else:
        body["confirmed_by"] = values.get("confirmed_by", "").strip() or None
    body = {k: v for k, v in body.items() if v is not None}
    fields = [Field("confirmed_by", "text"), Field("not_possible", "select"), Field("explanation", "textarea")]
    try:
        await state(request).services.post("intake", f"/complaints/{complaint_id}/read-back", session.token, body)
    except ServiceError as e:
        if e.status not in (409, 422):
            raise service_error_page(e) from None
        errors, general = errors_by_field(e.detail, fields) if e.status == 422 else ({}, [_detail_text(e.detail)])
        return render(request, "readback.html", {**taken, "command_id": command_id, "errors": errors,
                                                 "general": general, "values": values},
                      status=400 if e.status == 422 else 409, session=session)
    return see_other(f"/register/{complaint_id}/registered")


@router.get("/register/{complaint_id}/registered", response_class=HTMLResponse, responses=PAGE)
async def registered(request: Request, session: CurrentSession,
                     complaint_id: Annotated[str, Path(pattern=f"^{UUID_RE}$")]) -> Response:
    """Registered: the form number to give the customer, and the way to the complaint's page."""
    taken = await _taken(request, session, complaint_id)
    return render(request, "registered.html", taken, session=session)


# --- the dashboard --------------------------------------------------------------------------------

@router.get("/dashboard", response_class=HTMLResponse, responses=PAGE)
async def dashboard(request: Request, session: CurrentSession,
                    month: Annotated[str | None, Query(pattern=MONTH_RE)] = None) -> Response:
    """The month's figures from analytics, with charts: complaints by branch and subject, deadline
    compliance per step, costs by payer, satisfaction."""
    chosen = month or datetime.now(zone(request)).strftime("%Y-%m")
    report = None
    try:
        report = await state(request).services.get("analytics", f"/reports/monthly/{chosen}", session.token)
    except ServiceError as e:
        if e.status not in (403, 404, 422):
            raise service_error_page(e) from None
    first = date.fromisoformat(chosen + "-01")
    previous = (first - timedelta(days=1)).strftime("%Y-%m")
    following = (first + timedelta(days=32)).strftime("%Y-%m")
    t = translator(language_of(request, session))
    return render(request, "dashboard.html", {
        "report": report, "month": chosen, "previous": previous, "following": following,
        "branch_label": lambda code: f"{code} {t.label('branches', code)}",
        "deadline_label": lambda kind: t.label("deadlines", kind)}, session=session)


@router.get("/health", responses={200: {"description": "The console runs"}})
async def health() -> dict[str, str]:
    return {"status": "ok", "checked_at": datetime.now(timezone.utc).isoformat(), "uptime": f"{time.monotonic():.0f}"}
