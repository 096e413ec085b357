"""The web pages' parts, built once per application from the gateway's container."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from babel.support import NullTranslations

from gateway.bootstrap import Container
from gateway.web.accounts import PasswordAccounts
from gateway.web.i18n import load_translations
from gateway.web.rendering import Pages
from gateway.web.sessions import CookiePolicy, WebSessions


@dataclass
class Web:
    container: Container
    accounts: PasswordAccounts
    sessions: WebSessions
    cookies: CookiePolicy
    translations: dict[str, NullTranslations]
    pages: Pages

    @property
    def person_languages(self) -> list[str]:
        """The person's pages speak every language a consent text exists in."""
        return [
            lang for lang in self.container.consent_texts.languages if lang in self.translations
        ]


def build_accounts(container: Container) -> PasswordAccounts:
    settings = container.settings
    return PasswordAccounts(
        audit=container.audit,
        lockout_attempts=settings.web_lockout_attempts,
        lockout=timedelta(minutes=settings.web_lockout_minutes),
    )


def build_web(container: Container) -> Web:
    settings = container.settings
    translations = load_translations()
    return Web(
        container=container,
        accounts=build_accounts(container),
        sessions=WebSessions(
            lifetime=timedelta(hours=settings.web_session_hours),
            idle=timedelta(minutes=settings.web_idle_minutes),
        ),
        cookies=CookiePolicy.for_issuer(settings.issuer),
        translations=translations,
        pages=Pages(translations),
    )
