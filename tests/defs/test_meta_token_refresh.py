"""The hourly Meta token check against the simulator's debug_token and token exchange."""

import sqlalchemy as sa
from dagster import DagsterInstance

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.tenant_store import add_tenant, get_credential, set_credential
from adinsights_pipelines.warehouse.database import Database, engine

TOKENS = {
    "steady": "sim_ll_steady",  # long-lived, 60 days left
    "short": "sim_short",  # short-lived: exchanged for a long-lived token
    "ending": "sim_ll_expiring_end",  # 3 days left, exchange cannot extend it
    "revoked": "sim_expired_revoked",  # Meta says invalid
    "narrow": "sim_ll_noscope_narrow",  # scopes below the contract's gate
}


def test_token_refresh_sets_each_status(
    instance: DagsterInstance, product_env: Database, keyring
) -> None:
    with engine(product_env).begin() as conn:
        for tenant, token in TOKENS.items():
            add_tenant(conn, tenant, tenant)
            set_credential(conn, keyring, tenant, "meta", token)

    result = defs.resolve_job_def("meta_token_refresh").execute_in_process(instance=instance)
    assert result.success

    with engine(product_env).connect() as conn:
        rows = {
            r.tenant_id: (r.token_status, r.status_reason)
            for r in conn.execute(
                sa.text(
                    "select tenant_id, token_status, status_reason from app.platform_credentials"
                )
            )
        }
        short = get_credential(conn, keyring, "short", "meta")
    assert rows == {
        "steady": ("valid", None),
        "short": ("valid", None),
        "ending": ("expiring", "token_expiring"),
        "revoked": ("reauth_required", "credential_reauth_required"),
        "narrow": ("reauth_required", "missing_required_permissions"),
    }
    assert short.access_token == "sim_ll_short"
