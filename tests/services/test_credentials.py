"""Storing and removing platform credentials (services/credentials.py) against a real
PostgreSQL and the Meta simulator: the encrypted row and its audit record, or nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adinsights_pipelines.defs.meta.onboarding import MetaApp, MissingPermissions
from adinsights_pipelines.encryption import LocalKeyring
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.services.credentials import (
    CheckedToken,
    record_meta_onboarding_link,
    remove_credential,
    store_credential,
    unchecked,
)
from adinsights_pipelines.services.tenant_onboarding import deactivate_tenant
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.tenant_store import TenantNotFound, get_credential
from adinsights_pipelines.warehouse.database import Database, engine
from tests.services.audit_log import audit_rows
from tests.sql import query, scalar

EXPIRES = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)


def credential_rows(db: Database) -> list[tuple[object, ...]]:
    """(tenant_id, provider, token_status, scopes, token_expires_at) per stored credential."""
    sql = "select tenant_id, provider, token_status, scopes, token_expires_at "
    return [tuple(row) for row in query(db, sql + "from app.platform_credentials order by id")]


def check_as_google(token: str) -> CheckedToken:
    """A platform's answer: the token kept as given, with its scopes."""
    return CheckedToken(token, ("analytics.readonly",), EXPIRES)


def check_with_meta(token: str) -> CheckedToken:
    """Meta's own check (its simulator here): debug_token, then the long-lived exchange."""
    long_lived, info = MetaApp.from_settings(Settings()).onboard(token)
    return CheckedToken(long_lived, info.scopes, info.expires_at)


def test_checked_token_is_stored_encrypted_and_audited(
    product_env: Database, keyring: LocalKeyring, tenant: str
) -> None:
    stored = store_credential(
        engine(product_env),
        keyring,
        tenant,
        "ga4",
        "refresh-token-1",
        check=check_as_google,
        actor="cli",
    )
    assert stored == CheckedToken("refresh-token-1", ("analytics.readonly",), EXPIRES)
    assert credential_rows(product_env) == [
        (tenant, "ga4", "valid", ["analytics.readonly"], EXPIRES)
    ]
    ciphertext = scalar(product_env, "select token_ciphertext from app.platform_credentials")
    assert b"refresh-token-1" not in bytes(ciphertext)
    with engine(product_env).connect() as conn:
        credential = get_credential(conn, keyring, tenant, "ga4")
    assert credential is not None and credential.access_token == "refresh-token-1"
    assert audit_rows(product_env)[-1] == (
        tenant,
        "cli",
        "credential_updated",
        "platform_credential",
        "ga4",
        {"scopes": ["analytics.readonly"]},
    )


def test_meta_token_is_exchanged_by_the_check_before_it_is_stored(
    product_env: Database, keyring: LocalKeyring, tenant: str
) -> None:
    store_credential(
        engine(product_env),
        keyring,
        tenant,
        "meta",
        "sim_secret_token",
        check=check_with_meta,
        actor="cli",
    )
    with engine(product_env).connect() as conn:
        credential = get_credential(conn, keyring, tenant, "meta")
    assert credential is not None and credential.access_token == "sim_ll_secret_token"
    [(_, provider, status, scopes, expires_at)] = credential_rows(product_env)
    assert (provider, status) == ("meta", "valid")
    assert {"ads_read", "business_management", "pages_show_list"} <= set(scopes)
    assert expires_at is not None


def test_refused_token_writes_nothing(
    product_env: Database, keyring: LocalKeyring, tenant: str
) -> None:
    with pytest.raises(MissingPermissions):
        store_credential(
            engine(product_env),
            keyring,
            tenant,
            "meta",
            "sim_noscope_token",
            check=check_with_meta,
            actor="cli",
        )
    assert credential_rows(product_env) == []
    assert [row[2] for row in audit_rows(product_env)] == ["tenant_created"]


def test_unknown_tenant_is_refused_before_the_platform_is_asked(
    product_env: Database, keyring: LocalKeyring
) -> None:
    asked: list[str] = []

    def check(token: str) -> CheckedToken:
        asked.append(token)
        return CheckedToken(token)

    with pytest.raises(TenantNotFound, match="tenant 'nobody-here' does not exist"):
        store_credential(
            engine(product_env), keyring, "nobody-here", "meta", "t", check=check, actor="cli"
        )
    assert asked == []
    assert credential_rows(product_env) == []
    assert audit_rows(product_env) == []


def test_unknown_platform_writes_nothing(
    product_env: Database, keyring: LocalKeyring, tenant: str
) -> None:
    with pytest.raises(AdinsightsError, match="unknown provider 'tiktok'"):
        store_credential(
            engine(product_env), keyring, tenant, "tiktok", "t", check=unchecked, actor="cli"
        )
    assert credential_rows(product_env) == []
    assert [row[2] for row in audit_rows(product_env)] == ["tenant_created"]


def test_removal_deletes_the_row_and_is_audited(
    product_env: Database, keyring: LocalKeyring, tenant: str
) -> None:
    store_credential(
        engine(product_env), keyring, tenant, "google_ads", "t", check=unchecked, actor="cli"
    )
    with engine(product_env).begin() as conn:
        remove_credential(conn, tenant, "google_ads", actor="api")
    assert credential_rows(product_env) == []
    assert audit_rows(product_env)[-1] == (
        tenant,
        "api",
        "credential_deleted",
        "platform_credential",
        "google_ads",
        {},
    )


def test_removing_a_missing_credential_is_refused_unaudited(
    product_env: Database, tenant: str
) -> None:
    refused = pytest.raises(AdinsightsError, match="tenant 'island-grill' has no meta credential")
    with refused, engine(product_env).begin() as conn:
        remove_credential(conn, tenant, "meta", actor="cli")
    assert [row[2] for row in audit_rows(product_env)] == ["tenant_created"]


def test_onboarding_link_is_audited_with_its_validity(product_env: Database, tenant: str) -> None:
    with engine(product_env).begin() as conn:
        record_meta_onboarding_link(conn, tenant, valid_hours=72, actor="cli")
    assert audit_rows(product_env)[-1] == (
        tenant,
        "cli",
        "meta_onboarding_link_created",
        "platform_credential",
        "meta",
        {"valid_hours": 72},
    )


def test_no_onboarding_link_for_an_inactive_tenant(product_env: Database, tenant: str) -> None:
    with engine(product_env).begin() as conn:
        deactivate_tenant(conn, tenant, actor="cli")
    refused = pytest.raises(AdinsightsError, match="tenant 'island-grill' is inactive")
    with refused, engine(product_env).begin() as conn:
        record_meta_onboarding_link(conn, tenant, valid_hours=72, actor="cli")
    assert [row[2] for row in audit_rows(product_env)] == ["tenant_created", "tenant_deactivated"]
