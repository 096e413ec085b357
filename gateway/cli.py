"""The ``gateway`` command for operators: serve, demo, database, organisations, users,
clients, keys, policies and the audit trail.

Scriptable: with ``--json`` a command prints exactly one JSON document on
stdout. Bad arguments exit with status 2 and one line on stderr, never a
traceback; a command that fails for another reason exits with status 1.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

import httpx
from pydantic import ValidationError
from sqlmodel import Session

from gateway import demo, migrate
from gateway import openapi as gateway_openapi
from gateway.audit import verify as audit_verify
from gateway.audit.export import export as audit_export
from gateway.audit.service import AuditEvent
from gateway.auth import registration
from gateway.auth import repository as clients_repository
from gateway.bootstrap import Container, build
from gateway.database import create_db_engine, unit_of_work
from gateway.errors import GatewayError
from gateway.figures import cli as figures_cli
from gateway.keys import KeyPurpose, KeyStore, KeyStoreError
from gateway.observability.logging import configure as configure_logging
from gateway.organisations import repository as organisations
from gateway.organisations import service as organisation_service
from gateway.organisations.models import Organisation, OrganisationKind, Role, User
from gateway.policy import cli as policy_cli
from gateway.settings import Settings
from gateway.subjects import service as subjects_service
from gateway.web.composition import build_accounts


class UsageError(Exception):
    """Bad arguments: exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, no usage dump: operators script this command.
        sys.stderr.write(f"gateway: error: {message}\n")
        raise SystemExit(2)


def _emit(value: Any, *, as_json: bool, text: str | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(
            (text if text is not None else json.dumps(value, indent=2, default=str)) + "\n"
        )


def _organisation_view(item: Organisation) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind.value,
        "name": item.name,
        "key": item.official_key,
        "parent_id": item.parent_id,
    }


def _user_view(item: User) -> dict[str, Any]:
    return {
        "id": item.id,
        "organisation_id": item.organisation_id,
        "role": item.role.value,
        "name": item.name,
        "email": item.email,
        "active": item.active,
    }


# -- commands ----------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from gateway.app import create_app

    with _container(settings, upgrade=True) as container:
        tls: dict[str, Any] = {}
        if settings.tls:
            certs = Path(args.certs)
            tls = {
                "ssl_certfile": str(certs / "server.pem"),
                "ssl_keyfile": str(certs / "server-key.pem"),
                "ssl_ca_certs": str(certs / "ca.pem"),
                "ssl_cert_reqs": 1,  # ask for a client certificate; tokens still decide access
            }
        uvicorn.run(
            create_app(container=container),
            host=args.host or settings.host,
            port=args.port or settings.port,
            log_config=None,
            access_log=False,
            **tls,
        )
        return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    with (
        _container(settings, upgrade=True) as container,
        unit_of_work(container.engine) as session,
    ):
        summary = demo.seed(
            session,
            audit=container.audit,
            accounts=build_accounts(container),
            data_dir=settings.data_dir,
        )
    text = "\n".join(
        [
            "Demo data is ready:",
            *(
                f"  {v['kind']:<13} {v['name']}  ({v['id']})"
                for v in summary["organisations"].values()
            ),
            *(f"  {role:<20} {v['email']}  ({v['id']})" for role, v in summary["users"].items()),
            "",
            f"Web pages: {settings.issuer}/web (sign in with an e-mail address and password):",
            *(f"  {v['email']:<40} {v['web_password']}" for v in summary["users"].values()),
            f"  (kept in {demo.demo_passwords_path(settings.data_dir)})",
            *(
                f"  client {slug:<17} {v['client_id']}  key: {v['private_key']}"
                for slug, v in summary["clients"].items()
            ),
            "",
            demo.walkthrough(summary, issuer=settings.issuer),
        ]
    )
    _emit(summary, as_json=args.json, text=text)
    return 0


def cmd_demo_token(args: argparse.Namespace, settings: Settings) -> int:
    key_file = demo.demo_key_path(settings.data_dir, args.client)
    if not key_file.exists():
        raise UsageError("no demo client yet: run 'gateway demo' first")
    form = demo.token_request_form(
        key_file=key_file, token_endpoint=settings.token_endpoint, user_id=args.user
    )
    try:
        response = httpx.post(settings.token_endpoint, data=form, timeout=10.0)
    except httpx.HTTPError as exc:
        sys.stderr.write(f"gateway: cannot reach {settings.token_endpoint}: {exc}\n")
        return 1
    if args.raw and response.status_code == 200:
        sys.stdout.write(response.json()["access_token"] + "\n")
    else:
        _emit(response.json(), as_json=True)
    return 0 if response.status_code == 200 else 1


def cmd_db_upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    engine = create_db_engine(settings.resolved_database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    sys.stdout.write("database is up to date\n")
    return 0


def cmd_orgs_add(args: argparse.Namespace, settings: Settings) -> int:
    with _container(settings) as container:
        with unit_of_work(container.engine) as session:
            item = organisation_service.add_organisation(
                session,
                audit=container.audit,
                kind=OrganisationKind(args.kind),
                name=args.name,
                official_key=args.key,
                parent_id=args.parent,
            )
        _emit(_organisation_view(item), as_json=args.json, text=item.id)
        return 0


def cmd_orgs_list(args: argparse.Namespace, settings: Settings) -> int:
    with _container(settings) as container:
        with Session(container.engine) as session:
            items = [_organisation_view(o) for o in organisations.list_organisations(session)]
        text = "\n".join(
            f"{o['id']}  {o['kind']:<13} {o['key'] or '-':<14} {o['name']}" for o in items
        )
        _emit(items, as_json=args.json, text=text)
        return 0


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    with _container(settings) as container:
        with unit_of_work(container.engine) as session:
            item = organisation_service.add_user(
                session,
                audit=container.audit,
                organisation_id=args.org,
                role=Role(args.role),
                name=args.name,
                email=args.email,
            )
        _emit(_user_view(item), as_json=args.json, text=item.id)
        return 0


def cmd_users_password(args: argparse.Namespace, settings: Settings) -> int:
    """Set the password a user signs in to the web pages with (read from stdin or a prompt)."""
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise UsageError("the two passwords differ")
    with _container(settings) as container:
        with unit_of_work(container.engine) as session:
            user = organisations.find_user_by_email(session, args.email.strip().lower())
            if user is None:
                raise UsageError(f"no user has the e-mail address {args.email}")
            build_accounts(container).set_password(session, user_id=user.id, password=password)
        _emit({"id": user.id, "password_set": True}, as_json=args.json, text=user.id)
        return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    with _container(settings) as container:
        with Session(container.engine) as session:
            items = [_user_view(u) for u in organisations.list_users(session, args.org)]
        text = "\n".join(f"{u['id']}  {u['role']:<20} {u['email']}" for u in items)
        _emit(items, as_json=args.json, text=text)
        return 0


def _read_jwks(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        document = json.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read JWK Set file {source}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"JWK Set file {source} is not JSON") from exc
    if not isinstance(document, dict):
        raise UsageError("a JWK Set is a JSON object with a 'keys' array")
    return document


def cmd_clients_add(args: argparse.Namespace, settings: Settings) -> int:
    if sum(bool(x) for x in (args.jwks, args.jwks_uri, args.secret_basic)) != 1:
        raise UsageError("give exactly one of --jwks FILE, --jwks-uri URL or --secret-basic")
    with _container(settings) as container:
        with unit_of_work(container.engine) as session:
            client, secret = registration.add_client(
                session,
                audit=container.audit,
                organisation_id=args.org,
                name=args.name,
                scopes=args.scope,
                jwks=_read_jwks(args.jwks) if args.jwks else None,
                jwks_uri=args.jwks_uri,
                secret_basic=args.secret_basic,
                production=settings.is_production,
            )
        view = registration.public_view(client)
        if secret is not None:
            view["client_secret"] = secret  # shown once, stored only as a hash
        _emit(view, as_json=args.json, text=client.id)
        return 0


def cmd_clients_list(args: argparse.Namespace, settings: Settings) -> int:
    with _container(settings) as container:
        with Session(container.engine) as session:
            items = [registration.public_view(c) for c in clients_repository.list_clients(session)]
        text = "\n".join(
            f"{c['client_id']}  {'enabled ' if c['enabled'] else 'disabled'}  {c['name']}"
            for c in items
        )
        _emit(items, as_json=args.json, text=text)
        return 0


def _clients_set_enabled(enabled: bool) -> Callable[[argparse.Namespace, Settings], int]:
    def command(args: argparse.Namespace, settings: Settings) -> int:
        with _container(settings) as container, unit_of_work(container.engine) as session:
            client = registration.set_enabled(
                session, audit=container.audit, client_id=args.client_id, enabled=enabled
            )
            view = registration.public_view(client)
        _emit(view, as_json=args.json, text=f"{client.id} {'enabled' if enabled else 'disabled'}")
        return 0

    return command


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    keys = KeyStore(settings.resolved_keys_dir, production=settings.is_production)
    purposes = [KeyPurpose(p) for p in args.purpose] if args.purpose else None
    created = keys.rotate(purposes)
    with _container(settings) as container, unit_of_work(container.engine) as session:
        resealed = 0
        if any(key.purpose is KeyPurpose.DATA for key in created):
            # Identity attributes move to the new data key; the old one still opens them meanwhile.
            resealed = subjects_service.reseal_all(session, sealer=container.sealer)
        for key in created:
            container.audit.record(
                session,
                AuditEvent(
                    type="key.rotated",
                    details={"kid": key.kid, "purpose": key.purpose.value},
                ),
            )
    items = [{"kid": k.kid, "purpose": k.purpose.value, "alg": k.alg} for k in created]
    text = "\n".join(f"{i['purpose']}: {i['kid']}" for i in items)
    _emit({"keys": items, "resealed_subjects": resealed}, as_json=args.json, text=text)
    return 0


def cmd_consents_expire(args: argparse.Namespace, settings: Settings) -> int:
    with _container(settings) as container, unit_of_work(container.engine) as session:
        count = container.consents.expire_due(session)
    _emit({"expired": count}, as_json=args.json, text=f"{count} consent(s) expired")
    return 0


def cmd_webhooks_failures(args: argparse.Namespace, settings: Settings) -> int:
    with _container(settings) as container, Session(container.engine) as session:
        items = [
            {
                "id": m.id,
                "subscription_id": m.subscription_id,
                "event_type": m.event_type,
                "attempts": m.attempts,
                "last_error": m.last_error,
                "created_at": m.created_at.isoformat(),
            }
            for m in container.webhooks.failures(session)
        ]
    text = "\n".join(f"{i['id']}  {i['event_type']:<18} {i['last_error']}" for i in items)
    _emit(items, as_json=args.json, text=text or "no failed deliveries")
    return 0


def cmd_webhooks_retry(args: argparse.Namespace, settings: Settings) -> int:
    with _container(settings) as container, unit_of_work(container.engine) as session:
        message = container.webhooks.retry_failed(session, message_id=args.message_id)
    if message is None:
        raise UsageError(f"no failed message {args.message_id}")
    _emit({"id": message.id, "status": "pending"}, as_json=args.json, text=f"{message.id} queued")
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    with _container(settings) as container:
        with unit_of_work(container.engine) as session:
            # Events a killed writer committed but never sequenced join the chain first.
            container.audit.integrate(session)
        with Session(container.reader) as session:  # reads only: writers go on meanwhile
            workers = args.workers or audit_verify.workers_for(session)
            report = audit_verify.verify_trail(
                session, keys=container.keys.verification_keys(KeyPurpose.AUDIT), workers=workers
            )
        if report.ok:
            text = (
                f"audit trail verified: {report.events} events, {report.checkpoints} checkpoints, "
                f"{report.events_per_second:,.0f} events/s"
            )
        else:
            text = f"audit trail TAMPERED at seq {report.first_bad_seq}: {report.problem}"
        _emit(report.as_dict(), as_json=args.json, text=text)
        return 0 if report.ok else 1


def cmd_audit_export(args: argparse.Namespace, settings: Settings) -> int:
    with _container(settings) as container:
        with unit_of_work(container.engine) as session:
            result = audit_export(
                session,
                audit=container.audit,
                keys=container.keys,
                directory=Path(args.out),
                first=args.from_seq,
                last=args.to_seq,
            )
        view = {
            "directory": str(result.directory),
            "from": result.first,
            "to": result.last,
            "events": result.events,
            "tree_size": result.tree_size,
        }
        _emit(
            view, as_json=args.json, text=f"exported {result.events} events to {result.directory}"
        )
        return 0


# -- wiring ------------------------------------------------------------------------


def _container(settings: Settings, *, upgrade: bool = False) -> Container:
    container = build(settings)
    if upgrade:
        migrate.upgrade(container.engine)
    return container


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gateway", description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(
        group: Any, name: str, func: Callable[[argparse.Namespace, Settings], int], help_text: str
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(name, help=help_text)
        sub.set_defaults(func=func)
        sub.add_argument("--json", action="store_true", help="print one JSON document")
        return sub

    serve = add(commands, "serve", cmd_serve, "serve the gateway over HTTP")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--certs", default="certs-dev", help="directory of TLS certificates")
    add(commands, "demo", cmd_demo, "seed the demo organisations, users and client (idempotent)")
    demo_token = add(
        commands, "demo-token", cmd_demo_token, "get a token with the demo client's key"
    )
    demo_token.add_argument("--user", default=None, help="act for this user id (JWT bearer grant)")
    demo_token.add_argument(
        "--client", default="case-system", choices=[c.slug for c in demo.CLIENTS]
    )
    demo_token.add_argument("--raw", action="store_true", help="print only the access token")

    db = commands.add_parser("db", help="database").add_subparsers(
        dest="db_command", required=True, parser_class=_Parser
    )
    add(db, "upgrade", cmd_db_upgrade, "apply migrations")

    orgs = commands.add_parser("orgs", help="organisations").add_subparsers(
        dest="orgs_command", required=True, parser_class=_Parser
    )
    orgs_add = add(orgs, "add", cmd_orgs_add, "add an organisation")
    orgs_add.add_argument("--kind", required=True, choices=[k.value for k in OrganisationKind])
    orgs_add.add_argument("--name", required=True)
    orgs_add.add_argument("--key", default=None, help="AGS, district key or jobcenter key")
    orgs_add.add_argument("--parent", default=None, help="id of the parent organisation")
    add(orgs, "list", cmd_orgs_list, "list organisations")

    users = commands.add_parser("users", help="users").add_subparsers(
        dest="users_command", required=True, parser_class=_Parser
    )
    users_add = add(users, "add", cmd_users_add, "add a user")
    users_add.add_argument("--org", required=True)
    users_add.add_argument("--role", required=True, choices=[r.value for r in Role])
    users_add.add_argument("--name", required=True)
    users_add.add_argument("--email", required=True)
    users_password = add(
        users, "password", cmd_users_password, "set the password for the web pages"
    )
    users_password.add_argument("--email", required=True)
    users_password.add_argument(
        "--stdin", action="store_true", help="read the password from the first line of stdin"
    )
    users_list = add(users, "list", cmd_users_list, "list users")
    users_list.add_argument("--org", default=None)

    clients = commands.add_parser("clients", help="OAuth clients").add_subparsers(
        dest="clients_command", required=True, parser_class=_Parser
    )
    clients_add = add(clients, "add", cmd_clients_add, "register a client")
    clients_add.add_argument("--org", required=True)
    clients_add.add_argument("--name", required=True)
    clients_add.add_argument("--jwks", default=None, help="file with the client's public JWK Set")
    clients_add.add_argument("--jwks-uri", default=None, help="URL of the client's JWK Set")
    clients_add.add_argument("--scope", required=True, help='space-separated, e.g. "queries:ask"')
    clients_add.add_argument(
        "--secret-basic", action="store_true", help="development only: a client secret"
    )
    add(clients, "list", cmd_clients_list, "list clients")
    for name, enabled in (("disable", False), ("enable", True)):
        sub = add(clients, name, _clients_set_enabled(enabled), f"{name} a client")
        sub.add_argument("client_id")

    keys = commands.add_parser("keys", help="signing keys").add_subparsers(
        dest="keys_command", required=True, parser_class=_Parser
    )
    rotate = add(
        keys, "rotate", cmd_keys_rotate, "create new signing keys; old ones keep verifying"
    )
    rotate.add_argument(
        "--purpose", action="append", choices=[p.value for p in KeyPurpose], default=None
    )

    consents = commands.add_parser("consents", help="consents").add_subparsers(
        dest="consents_command", required=True, parser_class=_Parser
    )
    add(consents, "expire", cmd_consents_expire, "end consents past their validity (for cron)")

    webhooks = commands.add_parser("webhooks", help="webhook outbox").add_subparsers(
        dest="webhooks_command", required=True, parser_class=_Parser
    )
    add(webhooks, "failures", cmd_webhooks_failures, "messages that could not be delivered")
    retry = add(webhooks, "retry", cmd_webhooks_retry, "deliver a failed message again")
    retry.add_argument("message_id")

    audit = commands.add_parser("audit", help="audit trail").add_subparsers(
        dest="audit_command", required=True, parser_class=_Parser
    )
    verify = add(
        audit, "verify", cmd_audit_verify, "recompute chain, tree and checkpoint signatures"
    )
    verify.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes checking events (default: one per CPU for a long trail)",
    )
    export = add(audit, "export", cmd_audit_export, "export events with checkpoint and proofs")
    export.add_argument("--from", dest="from_seq", type=int, default=1)
    export.add_argument("--to", dest="to_seq", type=int, default=None)
    export.add_argument("--out", required=True, help="directory to write")

    # The policy commands are typed against the base parser class; ours only adds `error`.
    policy_cli.add_commands(cast("argparse._SubParsersAction[argparse.ArgumentParser]", commands))
    figures_cli.add_commands(cast("argparse._SubParsersAction[argparse.ArgumentParser]", commands))
    gateway_openapi.add_commands(
        cast("argparse._SubParsersAction[argparse.ArgumentParser]", commands)
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        sys.stderr.write(f"gateway: error: invalid setting: {first['msg']}\n")
        return 2
    configure_logging(level=settings.log_level, json_output=settings.log_json)
    try:
        if args.command == "policies":
            result: int = args.func(args, settings.policies_dir)
            return result
        result = args.func(args, settings)
        return result
    except UsageError as exc:
        sys.stderr.write(f"gateway: error: {exc}\n")
        return 2
    except GatewayError as exc:
        sys.stderr.write(f"gateway: error: {exc.detail}\n")
        return 2 if exc.status in {400, 404, 409} else 1
    except KeyStoreError as exc:
        sys.stderr.write(f"gateway: error: {exc}\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
