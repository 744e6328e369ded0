"""Storing and removing tenants' platform credentials, each with its audit record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection, Engine

from adinsights_pipelines import tenant_store
from adinsights_pipelines.encryption import Keyring
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.services.audit_trail import AuditSubject

if TYPE_CHECKING:
    from adinsights_pipelines.settings import Settings


@dataclass(frozen=True)
class CheckedToken:
    """What a platform said about a token: the token to store (Meta exchanges a short-lived
    one for a long-lived one), its scopes and its expiry."""

    token: str
    scopes: tuple[str, ...] = ()
    expires_at: datetime | None = None

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"CheckedToken(token=***, scopes={self.scopes!r}, expires_at={self.expires_at!r})"


#: Asks the platform about a token (Meta's debug_token and exchange, Google's refresh); raises
#: an :class:`~adinsights_pipelines.errors.AdinsightsError` when the token is refused.
TokenCheck = Callable[[str], CheckedToken]


def unchecked(token: str) -> CheckedToken:
    """For platforms whose tokens are not checked at onboarding (Google Ads)."""
    return CheckedToken(token)


def platform_token_check(
    platform: str, settings: Settings, progress: Callable[[str], None] = lambda _: None
) -> TokenCheck:
    """How ``platform``'s tokens are checked at onboarding, saying so through ``progress``:
    Meta's with debug_token (valid, with the scopes the contract requires), then exchanged for a
    long-lived one; a Google (GA4, Search Console) refresh token exchanged once, for its scopes;
    others not at all."""
    if platform == "meta":

        def check_meta(token: str) -> CheckedToken:
            from adinsights_pipelines.defs.meta.client import MetaApiError
            from adinsights_pipelines.defs.meta.onboarding import MetaApp

            progress("checking the token's scopes with Meta and exchanging it for a long-lived one")
            try:
                long_lived, info = MetaApp.from_settings(settings).onboard(token)
            except MetaApiError as exc:
                raise AdinsightsError(f"Meta refused the token check: {exc}") from None
            return CheckedToken(long_lived, info.scopes, info.expires_at)

        return check_meta
    if platform in ("ga4", "search_console"):

        def check_google(token: str) -> CheckedToken:
            from adinsights_pipelines.defs.google.onboarding import check_refresh_token
            from adinsights_pipelines.defs.google.resources import GoogleApis

            progress("checking the refresh token and its scopes with Google")
            scopes = check_refresh_token(GoogleApis.from_settings(settings), platform, token)
            return CheckedToken(token, scopes)

        return check_google
    return unchecked


def store_credential(
    engine: Engine,
    keyring: Keyring,
    tenant_id: str,
    platform: str,
    token: str,
    *,
    check: TokenCheck,
    actor: str,
) -> CheckedToken:
    """Check the token with its platform, then store what the check returned encrypted under
    the tenant's data key, audited as ``credential_updated`` (metadata: the scopes).

    Takes an engine rather than a connection: the check is a call to the platform, made after
    the tenant is known to exist and outside the transaction that writes the row and its audit.
    A refused token writes nothing.
    """
    with engine.connect() as conn:
        tenant_store.require_tenant(conn, tenant_id)
    checked = check(token)
    with engine.begin() as conn:
        save_checked(conn, keyring, tenant_id, platform, checked, actor=actor)
    return checked


def credential_subject(tenant_id: str, platform: str) -> AuditSubject:
    """What the audit records of a tenant's credential for the platform name as changed."""
    return AuditSubject(tenant_id, "platform_credential", platform)


def save_checked(
    conn: Connection,
    keyring: Keyring,
    tenant_id: str,
    platform: str,
    checked: CheckedToken,
    *,
    actor: str,
    action: str = "credential_updated",
) -> None:
    """Store an already checked token encrypted under the tenant's data key, audited as
    ``action`` (metadata: the scopes), in the caller's transaction."""
    tenant_store.set_credential(
        conn,
        keyring,
        tenant_id,
        platform,
        checked.token,
        scopes=checked.scopes,
        expires_at=checked.expires_at,
    )
    credential_subject(tenant_id, platform).record(
        conn, action, actor=actor, metadata={"scopes": list(checked.scopes)}
    )


def remove_credential(
    conn: Connection,
    tenant_id: str,
    platform: str,
    *,
    actor: str,
    action: str = "credential_deleted",
    metadata: dict[str, object] | None = None,
) -> None:
    """Delete the tenant's stored token for the platform (synced data is kept), audited as
    ``action`` with ``metadata``; an error when there is none."""
    if not tenant_store.remove_credential(conn, tenant_id, platform):
        raise AdinsightsError(f"tenant {tenant_id!r} has no {platform} credential")
    credential_subject(tenant_id, platform).record(conn, action, actor=actor, metadata=metadata)


def record_meta_onboarding_link(
    conn: Connection, tenant_id: str, *, valid_hours: float, actor: str
) -> None:
    """Audit that an onboarding link for the tenant's Meta connection is handed out (the link
    itself is signed, not stored); only for an existing, active tenant."""
    tenant_store.require_tenant(conn, tenant_id)
    if tenant_id not in tenant_store.active_tenant_ids(conn):
        raise AdinsightsError(f"tenant {tenant_id!r} is inactive")
    credential_subject(tenant_id, "meta").record(
        conn, "meta_onboarding_link_created", actor=actor, metadata={"valid_hours": valid_hours}
    )
