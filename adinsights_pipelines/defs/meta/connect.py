"""The Meta connector lifecycle: onboarding links, Facebook Login, provisioning, sync, logout.

Shared by the API (``api/routes/meta_connect.py``: JSON endpoints and the onboarding pages) and
the CLI (``adinsights meta connect|disconnect``). The steps:

1. an onboarding link for one tenant, signed (itsdangerous) and expiring
   (``ADINSIGHTS_ONBOARDING_LINK_HOURS``);
2. ``start``: the Facebook Login dialog URL; its ``state`` is signed, names the tenant and a
   nonce stored in ``app.meta_oauth_states``, and lasts 10 minutes; after a grant that lacked
   permissions the dialog asks again with ``auth_type=rerequest``;
3. ``callback``: the state is checked and consumed (once), the code exchanged for a token,
   the token checked against the contract's scope gate and exchanged for a long-lived one
   (:meth:`.onboarding.MetaApp.onboard`), then stored encrypted and audited;
4. ``provision``: the chosen ad accounts and Pages, checked against what the token sees, are
   stored in ``app.meta_selection``; the tenant's partition is ensured; the first sync starts;
5. ``sync``: the same runs now (throttled; a running sync is answered, not repeated);
6. ``logout``: ``DELETE /me/permissions`` at Meta, the token deleted, the data kept.

A sync is a chain of Dagster runs executed in a background thread of the calling process
(``meta_sync``, ``meta_pages`` when Pages are selected, ``dbt_build``, ``metrics_snapshots``),
recorded in the instance like scheduled runs; its run ids are chosen up front and answered at
once. ``app.meta_onboarding`` says whether one is still running, for every API replica.
"""

from __future__ import annotations

import logging
import secrets
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
from dagster import DagsterInstance, Definitions
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.engine import Engine

from adinsights_pipelines.defs.meta.client import MetaApiError, MetaGraphClient
from adinsights_pipelines.defs.meta.onboarding import (
    MetaApp,
    MissingPermissions,
    TokenRejected,
    missing_permissions,
)
from adinsights_pipelines.encryption import LocalKeyring
from adinsights_pipelines.errors import AdinsightsError, ConfigError
from adinsights_pipelines.logs import log_context, register_secret
from adinsights_pipelines.services.audit_trail import AuditSubject
from adinsights_pipelines.services.credentials import (
    CheckedToken,
    credential_subject,
    remove_credential,
    save_checked,
)
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.tenant_store import get_credential

log = logging.getLogger(__name__)

STATE_MAX_AGE_S = 600
CALLBACK_PATH = "/api/integrations/meta/oauth/callback/"
LANDING_PATH = "/onboarding/meta/"
#: A sync still marked running after this long is taken as dead (its process went away).
SYNC_STALE_AFTER = timedelta(hours=4)


class MissingSetting(ConfigError):
    """A setting the lifecycle needs is unset (the API answers 503 naming it)."""

    def __init__(self, name: str, why: str) -> None:
        self.name = name
        super().__init__(f"{name} is not set: {why}")


class Refused(AdinsightsError):
    """A lifecycle request that cannot be honoured; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(detail)


@dataclass(frozen=True)
class LoginConfig:
    """What the Login dialog and the code exchange need, from settings."""

    app: MetaApp
    dialog_url: str
    redirect_uri: str
    link_base: str
    scopes: tuple[str, ...]
    config_id: str | None
    link_max_age_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginConfig:
        if not settings.meta_app_id:
            raise MissingSetting("META_APP_ID", "the Facebook app that clients log in to")
        if settings.meta_app_secret is None:
            raise MissingSetting("META_APP_SECRET", "it authorises the code exchange")
        config_id = settings.meta_login_config_id
        if settings.meta_login_config_required and not config_id:
            raise MissingSetting(
                "META_LOGIN_CONFIG_ID", "META_LOGIN_CONFIG_REQUIRED=1 asks for a configuration"
            )
        base = (settings.frontend_base_url or "").rstrip("/")
        redirect = settings.meta_oauth_redirect_uri or (base + CALLBACK_PATH if base else None)
        if not redirect:
            raise MissingSetting(
                "META_OAUTH_REDIRECT_URI",
                "set it (or FRONTEND_BASE_URL) to where Facebook Login returns",
            )
        if not base:
            parts = urlsplit(redirect)
            base = f"{parts.scheme}://{parts.netloc}"
        scopes = tuple(s.strip() for s in settings.meta_oauth_scopes.split(",") if s.strip())
        if missing := missing_permissions(scopes):
            raise MissingSetting(
                "META_OAUTH_SCOPES", f"it must include the required {', '.join(missing)}"
            )
        return cls(
            app=MetaApp.from_settings(settings),
            dialog_url=settings.meta_dialog_url.rstrip("/"),
            redirect_uri=redirect,
            link_base=base,
            scopes=scopes,
            config_id=config_id if settings.meta_login_config_required else None,
            link_max_age_s=settings.onboarding_link_hours * 3600,
        )


class Signer:
    """Signed onboarding links and OAuth states (itsdangerous, key derived from the master
    key). A link names one tenant; a state names a tenant and a nonce."""

    def __init__(self, keyring: LocalKeyring) -> None:
        secret = keyring.derive_key("meta-onboarding").hex()
        self._links = URLSafeTimedSerializer(secret, salt="meta-onboarding-link")
        self._states = URLSafeTimedSerializer(secret, salt="meta-oauth-state")

    def link_token(self, tenant_id: str) -> str:
        return str(self._links.dumps({"t": tenant_id}))

    def link_tenant(self, token: str, max_age_s: float) -> str:
        try:
            payload = self._links.loads(token, max_age=int(max_age_s))
        except SignatureExpired:
            raise Refused(401, "link_expired", "this onboarding link has expired") from None
        except BadSignature:
            raise Refused(401, "link_invalid", "this onboarding link is not valid") from None
        return str(payload["t"])

    def state(self, tenant_id: str, nonce: str) -> str:
        return str(self._states.dumps({"t": tenant_id, "n": nonce}))

    def read_state(self, state: str) -> tuple[str, str]:
        try:
            payload = self._states.loads(state, max_age=STATE_MAX_AGE_S)
        except SignatureExpired:
            raise Refused(400, "state_expired", "the sign-in took too long; start again") from None
        except BadSignature:
            raise Refused(400, "state_invalid", "the sign-in state is not valid") from None
        return str(payload["t"]), str(payload["n"])


def onboarding_link(config: LoginConfig, signer: Signer, tenant_id: str) -> str:
    return f"{config.link_base}{LANDING_PATH}?{urlencode({'link': signer.link_token(tenant_id)})}"


def _require_active(conn: sa.Connection, tenant_id: str) -> None:
    status = conn.execute(
        sa.text("select status from app.tenants where id = :t"), {"t": tenant_id}
    ).scalar()
    if status is None:
        raise Refused(404, "tenant_not_found", f"no tenant {tenant_id}")
    if status != "active":
        raise Refused(409, "tenant_inactive", f"tenant {tenant_id} is deactivated")


def missing_scopes(conn: sa.Connection, tenant_id: str) -> list[str]:
    found = conn.execute(
        sa.text("select missing_scopes from app.meta_onboarding where tenant_id = :t"),
        {"t": tenant_id},
    ).scalar()
    return list(found or [])


def _set_missing(conn: sa.Connection, tenant_id: str, missing: Sequence[str]) -> None:
    conn.execute(
        sa.text(
            """
            insert into app.meta_onboarding (tenant_id, missing_scopes) values (:t, :m)
            on conflict (tenant_id) do update
               set missing_scopes = excluded.missing_scopes, updated_at = now()
            """
        ),
        {"t": tenant_id, "m": list(missing)},
    )


def start_login(
    engine: Engine, config: LoginConfig, signer: Signer, tenant_id: str, actor: str
) -> dict[str, Any]:
    """The Login dialog URL for the tenant, with a fresh single-use state."""
    nonce = secrets.token_urlsafe(24)
    with engine.begin() as conn:
        _require_active(conn, tenant_id)
        conn.execute(
            sa.text("delete from app.meta_oauth_states where created_at < now() - interval '1 day'")
        )
        conn.execute(
            sa.text("insert into app.meta_oauth_states (nonce, tenant_id) values (:n, :t)"),
            {"n": nonce, "t": tenant_id},
        )
        rerequest = bool(missing_scopes(conn, tenant_id))
        credential_subject(tenant_id, "meta").record(
            conn, "meta_oauth_started", actor=actor, metadata={"rerequest": rerequest}
        )
    params = {
        "client_id": config.app.app_id,
        "redirect_uri": config.redirect_uri,
        "state": signer.state(tenant_id, nonce),
        "response_type": "code",
        "scope": ",".join(config.scopes),
    }
    if config.config_id:
        params["config_id"] = config.config_id
    if rerequest:
        params["auth_type"] = "rerequest"
    return {
        "tenant_id": tenant_id,
        "authorize_url": (
            f"{config.dialog_url}/{config.app.api_version}/dialog/oauth?{urlencode(params)}"
        ),
        "rerequest": rerequest,
        "state_expires_in": STATE_MAX_AGE_S,
    }


def consume_state(engine: Engine, signer: Signer, state: str) -> str:
    """The tenant a callback's ``state`` was issued for; the state can never be used again."""
    tenant_id, nonce = signer.read_state(state)
    with engine.begin() as conn:
        used = conn.execute(
            sa.text(
                """
                update app.meta_oauth_states set used_at = now()
                 where nonce = :n and tenant_id = :t and used_at is null
                   and created_at > now() - make_interval(secs => :age)
                returning tenant_id
                """
            ),
            {"n": nonce, "t": tenant_id, "age": STATE_MAX_AGE_S},
        ).scalar()
    if used is None:
        raise Refused(400, "state_used", "this sign-in was already completed; start again")
    return tenant_id


@dataclass
class CallbackOutcome:
    tenant_id: str
    connected: bool
    reason: str | None = None
    missing: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    expires_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "status": "connected" if self.connected else self.reason,
            "missing_permissions": self.missing,
            "scopes": self.scopes,
            "token_expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


def exchange_code(config: LoginConfig, code: str) -> str:
    """Facebook Login's code exchange: the short-lived user token."""
    app = config.app
    token = app.access_token(
        {
            "client_id": app.app_id,
            "redirect_uri": config.redirect_uri,
            "client_secret": app.app_secret,
            "code": code,
        },
        "Meta did not return an access token for the code",
    )
    register_secret(token)
    return token


def complete_login(
    engine: Engine,
    keyring: LocalKeyring,
    config: LoginConfig,
    tenant_id: str,
    code: str,
    actor: str,
) -> CallbackOutcome:
    """Exchange the code, apply the scope gate, store the long-lived token (audited)."""
    try:
        short = exchange_code(config, code)
        long_lived, info = config.app.onboard(short)
    except MissingPermissions as exc:
        with engine.begin() as conn:
            _set_missing(conn, tenant_id, exc.missing)
            credential_subject(tenant_id, "meta").record(
                conn,
                "meta_oauth_missing_permissions",
                actor=actor,
                metadata={"missing": exc.missing},
            )
        return CallbackOutcome(tenant_id, False, "missing_required_permissions", exc.missing)
    except (MetaApiError, TokenRejected) as exc:
        with engine.begin() as conn:
            credential_subject(tenant_id, "meta").record(
                conn, "meta_oauth_failed", actor=actor, metadata={"error": str(exc)[:300]}
            )
        raise Refused(502, "token_exchange_failed", f"Meta refused the sign-in: {exc}") from None
    checked = CheckedToken(long_lived, info.scopes, info.expires_at)
    with engine.begin() as conn:
        save_checked(
            conn, keyring, tenant_id, "meta", checked, actor=actor, action="meta_oauth_connected"
        )
        _set_missing(conn, tenant_id, [])
    return CallbackOutcome(tenant_id, True, scopes=list(info.scopes), expires_at=info.expires_at)


def tenant_client(
    engine: Engine, keyring: LocalKeyring, settings: Settings, tenant_id: str
) -> MetaGraphClient:
    with engine.connect() as conn:
        credential = get_credential(conn, keyring, tenant_id, "meta")
    if credential is None:
        raise Refused(409, "not_connected", f"tenant {tenant_id} has not connected Meta")
    return _graph_client(settings, credential.access_token)


def _graph_client(settings: Settings, access_token: str) -> MetaGraphClient:
    """A Graph API client for the token, configured by the settings."""
    return MetaGraphClient(
        access_token,
        base_url=settings.meta_graph_url,
        api_version=settings.meta_api_version,
        timeout=settings.meta_request_timeout_seconds,
        backoff_base=settings.meta_retry_base_seconds,
    )


def visible_assets(client: MetaGraphClient) -> dict[str, list[dict[str, Any]]]:
    """The ad accounts and Pages the token can see (no page tokens asked for)."""
    try:
        accounts = client.list_ad_accounts(
            ("id", "account_id", "name", "currency", "timezone_name")
        )
        pages = list(client.iter_pages("me/accounts", {"fields": "id,name,category"}))
    except MetaApiError as exc:
        raise Refused(502, "meta_unavailable", f"Meta did not list the accounts: {exc}") from None
    return {
        "ad_accounts": [
            {
                "id": a["id"],
                "name": a.get("name"),
                "currency": a.get("currency"),
                "timezone_name": a.get("timezone_name"),
            }
            for a in accounts
        ],
        "pages": [
            {"id": p["id"], "name": p.get("name"), "category": p.get("category")} for p in pages
        ],
    }


def selection(conn: sa.Connection, tenant_id: str) -> dict[str, list[str]]:
    rows = conn.execute(
        sa.text(
            "select kind, object_id from app.meta_selection where tenant_id = :t "
            "order by kind, object_id"
        ),
        {"t": tenant_id},
    ).all()
    return {
        "ad_accounts": [r.object_id for r in rows if r.kind == "ad_account"],
        "pages": [r.object_id for r in rows if r.kind == "page"],
    }


def setup(
    engine: Engine, keyring: LocalKeyring, settings: Settings, tenant_id: str
) -> dict[str, Any]:
    """What the token sees, with the selection (``visible`` is None without a token)."""
    with engine.connect() as conn:
        _require_active(conn, tenant_id)
        chosen = selection(conn, tenant_id)
        missing = missing_scopes(conn, tenant_id)
        connected = get_credential(conn, keyring, tenant_id, "meta") is not None
    visible: dict[str, list[dict[str, Any]]] = {"ad_accounts": [], "pages": []}
    if connected:
        with tenant_client(engine, keyring, settings, tenant_id) as client:
            visible = visible_assets(client)
    for kind in ("ad_accounts", "pages"):
        for item in visible[kind]:
            item["selected"] = item["id"] in chosen[kind]
    return {
        "tenant_id": tenant_id,
        "connected": connected,
        "missing_permissions": missing,
        "ad_accounts": visible["ad_accounts"],
        "pages": visible["pages"],
        "selected": chosen,
    }


def _act(account_id: str) -> str:
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def provision(
    engine: Engine,
    keyring: LocalKeyring,
    settings: Settings,
    tenant_id: str,
    ad_account_ids: Sequence[str],
    page_ids: Sequence[str],
    actor: str,
) -> dict[str, Any]:
    """Store the selection (validated against the token), ensure the partition, start the first
    sync; answers the run ids."""
    accounts = list(dict.fromkeys(_act(a) for a in ad_account_ids))
    pages = list(dict.fromkeys(page_ids))
    if not accounts:
        raise Refused(400, "no_ad_accounts", "choose at least one ad account")
    with engine.connect() as conn:
        _require_active(conn, tenant_id)
    with tenant_client(engine, keyring, settings, tenant_id) as client:
        visible = visible_assets(client)
    names = {a["id"]: a["name"] for a in visible["ad_accounts"]}
    names |= {p["id"]: p["name"] for p in visible["pages"]}
    unseen = [a for a in accounts if a not in {x["id"] for x in visible["ad_accounts"]}]
    unseen += [p for p in pages if p not in {x["id"] for x in visible["pages"]}]
    if unseen:
        raise Refused(
            400,
            "not_visible",
            f"the connected Facebook user cannot see {', '.join(unseen)}",
        )
    with engine.begin() as conn:
        conn.execute(
            sa.text("delete from app.meta_selection where tenant_id = :t"), {"t": tenant_id}
        )
        conn.execute(
            sa.text(
                "insert into app.meta_selection (tenant_id, kind, object_id, name) "
                "values (:t, :k, :o, :n)"
            ),
            [{"t": tenant_id, "k": "ad_account", "o": a, "n": names.get(a)} for a in accounts]
            + [{"t": tenant_id, "k": "page", "o": p, "n": names.get(p)} for p in pages],
        )
        AuditSubject(tenant_id, "meta_selection", tenant_id).record(
            conn,
            "meta_provisioned",
            actor=actor,
            metadata={"ad_accounts": accounts, "pages": pages},
        )
    sync = start_sync(engine, settings, tenant_id, actor, first=True)
    return {"tenant_id": tenant_id, "selected": {"ad_accounts": accounts, "pages": pages}, **sync}


# --- syncs ---------------------------------------------------------------------------------


#: The tenant's sync columns of ``app.meta_onboarding``.
_SYNC_ROW = (
    "select sync_run_ids, sync_requested_at, sync_finished_at, sync_status "
    "from app.meta_onboarding where tenant_id = :t"
)


def _sync_row(conn: sa.Connection, tenant_id: str) -> Any:
    return conn.execute(sa.text(f"{_SYNC_ROW} for update"), {"t": tenant_id}).one_or_none()


def sync_state(engine: Engine, tenant_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(sa.text(_SYNC_ROW), {"t": tenant_id}).one_or_none()
    if row is None or row.sync_requested_at is None:
        return None
    return {
        "status": row.sync_status,
        "run_ids": list(row.sync_run_ids),
        "requested_at": row.sync_requested_at.isoformat(),
        "finished_at": row.sync_finished_at.isoformat() if row.sync_finished_at else None,
    }


def sync_jobs(conn: sa.Connection, tenant_id: str) -> list[tuple[str, str | None]]:
    """(job, partition) in order: Meta accounts + insights, Pages when chosen, dbt, snapshot."""
    pages = conn.execute(
        sa.text("select count(*) from app.meta_selection where tenant_id = :t and kind = 'page'"),
        {"t": tenant_id},
    ).scalar()
    jobs: list[tuple[str, str | None]] = [("meta_sync", tenant_id)]
    if pages:
        jobs.append(("meta_pages", tenant_id))
    return [*jobs, ("dbt_build", None), ("metrics_snapshots", tenant_id)]


def start_sync(
    engine: Engine, settings: Settings, tenant_id: str, actor: str, *, first: bool = False
) -> dict[str, Any]:
    """Start the tenant's sync chain, or answer the one still running (``already_running``).

    A manual sync finished less than ``meta_manual_sync_min_interval_seconds`` ago is refused
    with 429 (``retry_after``)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        _require_active(conn, tenant_id)
        if get_credential_status(conn, tenant_id) is None:
            raise Refused(409, "not_connected", f"tenant {tenant_id} has not connected Meta")
        if not selection(conn, tenant_id)["ad_accounts"]:
            raise Refused(409, "not_provisioned", "choose the ad accounts first (provision)")
        conn.execute(
            sa.text(
                "insert into app.meta_onboarding (tenant_id) values (:t) on conflict do nothing"
            ),
            {"t": tenant_id},
        )
        row = _sync_row(conn, tenant_id)
        running = row.sync_status == "running" and now - row.sync_requested_at < SYNC_STALE_AFTER
        if running:
            return {
                "run_ids": list(row.sync_run_ids),
                "status": "running",
                "already_running": True,
                "requested_at": row.sync_requested_at.isoformat(),
            }
        interval = timedelta(seconds=settings.meta_manual_sync_min_interval_seconds)
        if not first and row.sync_finished_at is not None and now - row.sync_finished_at < interval:
            wait = int((interval - (now - row.sync_finished_at)).total_seconds()) + 1
            raise Refused(
                429, "sync_throttled", f"the last sync finished moments ago; retry in {wait} s"
            )
        jobs = sync_jobs(conn, tenant_id)
        planned = [(job, partition, str(uuid.uuid4())) for job, partition in jobs]
        run_ids = [run_id for *_, run_id in planned]
        conn.execute(
            sa.text(
                """
                update app.meta_onboarding
                   set sync_run_ids = :r, sync_requested_at = now(), sync_finished_at = null,
                       sync_status = 'running', updated_at = now()
                 where tenant_id = :t
                """
            ),
            {"t": tenant_id, "r": run_ids},
        )
        AuditSubject(tenant_id, "meta_sync", tenant_id).record(
            conn,
            "meta_first_sync_started" if first else "meta_sync_triggered",
            actor=actor,
            metadata={"run_ids": run_ids, "jobs": [job for job, *_ in planned]},
        )
    thread = threading.Thread(
        target=_run_chain,
        args=(engine, tenant_id, planned, actor),
        name=f"meta-sync-{tenant_id}",
        daemon=True,
    )
    thread.start()
    _THREADS[tenant_id] = thread
    return {"run_ids": run_ids, "status": "running", "already_running": False}


#: The latest sync thread per tenant in this process (tests join them).
_THREADS: dict[str, threading.Thread] = {}


def wait_for_sync(tenant_id: str, timeout: float | None = None) -> None:
    """Wait for this process's sync thread of the tenant (tests and the CLI)."""
    thread = _THREADS.get(tenant_id)
    if thread is not None:
        thread.join(timeout)


def get_credential_status(conn: sa.Connection, tenant_id: str) -> str | None:
    return conn.execute(
        sa.text(
            "select token_status from app.platform_credentials "
            "where tenant_id = :t and provider = 'meta'"
        ),
        {"t": tenant_id},
    ).scalar()


@cache
def chain_definitions() -> Definitions:
    """What the sync chain's jobs (:func:`sync_jobs`) span, assembled as the code location
    assembles it (``defs/assembly.py``): Meta, dbt with the data contracts, the snapshot.
    Imported on first use: the API imports this module when it starts, and loads dbt's manifest
    only when a chain runs."""
    from adinsights_pipelines.defs.assembly import assemble
    from adinsights_pipelines.defs.contracts import definitions as contracts
    from adinsights_pipelines.defs.dbt import definitions as dbt
    from adinsights_pipelines.defs.meta import definitions as meta
    from adinsights_pipelines.defs.snapshots import definitions as snapshots

    return assemble(meta.defs, dbt.defs, contracts.defs, snapshots.defs)


def _run_chain(
    engine: Engine, tenant_id: str, planned: list[tuple[str, str | None, str]], actor: str
) -> None:
    from adinsights_pipelines.defs.assembly import QUIET_CONSOLE
    from adinsights_pipelines.instance import get_instance

    status, failed_job = "succeeded", None
    with log_context(tenant_id=tenant_id):
        try:
            instance = get_instance()
            ensure_partition(instance, tenant_id)
            for job, partition, run_id in planned:
                job_def = chain_definitions().resolve_job_def(job)
                result = job_def.execute_in_process(
                    instance=instance,
                    partition_key=partition,
                    run_id=run_id,
                    raise_on_error=False,
                    tags={"tenant_id": tenant_id, "adinsights/trigger": "meta_lifecycle"},
                    run_config=QUIET_CONSOLE,
                )
                if not result.success:
                    status, failed_job = "failed", job
                    break
        except Exception:  # the row must not stay "running": log, record the failure
            log.exception("Meta sync chain of %s failed", tenant_id)
            status, failed_job = "failed", failed_job or "setup"
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "update app.meta_onboarding set sync_status = :s, sync_finished_at = now(), "
                    "updated_at = now() where tenant_id = :t"
                ),
                {"t": tenant_id, "s": status},
            )
            AuditSubject(tenant_id, "meta_sync", tenant_id).record(
                conn,
                "meta_sync_finished",
                actor=actor,
                metadata={
                    "status": status,
                    "failed_job": failed_job,
                    "run_ids": [r for *_, r in planned],
                },
            )
        log.info("Meta sync of %s %s", tenant_id, status)


def ensure_partition(instance: DagsterInstance, tenant_id: str) -> None:
    """The tenant's partition, added now if the sensor has not yet."""
    from adinsights_pipelines.defs.tenants.partitions import TENANT_PARTITIONS

    if not instance.has_dynamic_partition(TENANT_PARTITIONS, tenant_id):
        instance.add_dynamic_partitions(TENANT_PARTITIONS, [tenant_id])


# --- logout --------------------------------------------------------------------------------


def logout(
    engine: Engine, keyring: LocalKeyring, settings: Settings, tenant_id: str, actor: str
) -> dict[str, Any]:
    """Revoke the grant at Meta, delete the stored token, keep every synced row."""
    with engine.connect() as conn:
        _require_active(conn, tenant_id)
        credential = get_credential(conn, keyring, tenant_id, "meta")
    if credential is None:
        raise Refused(409, "not_connected", f"tenant {tenant_id} has no Meta connection")
    revoked, revoke_error = False, None
    with _graph_client(settings, credential.access_token) as client:
        try:
            body = client.delete(f"{client.base_url}/{client.api_version}/me/permissions")
            revoked = bool(body.get("success"))
        except MetaApiError as exc:  # an already invalid token: nothing left to revoke
            revoke_error = str(exc)[:300]
    try:
        with engine.begin() as conn:
            remove_credential(
                conn,
                tenant_id,
                "meta",
                actor=actor,
                action="meta_logout",
                metadata={"revoked_at_meta": revoked, "revoke_error": revoke_error},
            )
    except AdinsightsError:  # a concurrent logout deleted it first
        raise Refused(409, "not_connected", f"tenant {tenant_id} has no Meta connection") from None
    return {
        "tenant_id": tenant_id,
        "status": "not_connected",
        "revoked_at_meta": revoked,
        "revoke_error": revoke_error,
        "data_kept": True,
    }
