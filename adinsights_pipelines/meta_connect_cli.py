"""``adinsights meta connect|disconnect``: the CLI side of the Meta connector lifecycle
(:mod:`adinsights_pipelines.defs.meta.connect`); ``cli.py`` only registers the commands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import click

from adinsights_pipelines.errors import AdinsightsError


def connect(tenant_id: str, progress: Callable[[str], None]) -> None:
    """Print an onboarding link for the tenant (audited)."""
    from adinsights_pipelines.audit import record_audit
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.meta.connect import LoginConfig, Signer, onboarding_link
    from adinsights_pipelines.tenants import active_tenant_ids, require_tenant
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    config = LoginConfig.from_settings(rt.settings)
    with engine(rt.db).begin() as conn:
        require_tenant(conn, tenant_id)
        if tenant_id not in active_tenant_ids(conn):
            raise AdinsightsError(f"tenant {tenant_id!r} is inactive")
        record_audit(
            conn,
            tenant_id=tenant_id,
            actor="cli",
            action="meta_onboarding_link_created",
            resource_type="platform_credential",
            resource_id="meta",
            metadata={"valid_hours": rt.settings.onboarding_link_hours},
        )
    link = onboarding_link(config, Signer(rt.keyring), tenant_id)
    until = datetime.now(UTC) + timedelta(hours=rt.settings.onboarding_link_hours)
    progress(
        f"send this link to {tenant_id}'s Facebook ads owner; "
        f"it works until {until:%Y-%m-%d %H:%M} UTC"
    )
    click.echo(link)


def disconnect(tenant_id: str, progress: Callable[[str], None]) -> None:
    """What ``POST /api/integrations/meta/logout/`` does: revoke at Meta, delete the token."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.meta.connect import Refused, logout
    from adinsights_pipelines.tenants import require_tenant
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    eng = engine(rt.db)
    with eng.connect() as conn:
        require_tenant(conn, tenant_id)
    progress(f"revoking {tenant_id}'s Facebook grant (DELETE /me/permissions)")
    try:
        result = logout(eng, rt.keyring, rt.settings, tenant_id, "cli")
    except Refused as exc:
        raise AdinsightsError(str(exc)) from None
    revoked = (
        "grant revoked at Meta"
        if result["revoked_at_meta"]
        else f"Meta did not confirm the revocation ({result['revoke_error']})"
    )
    click.echo(f"meta disconnected for {tenant_id}: {revoked}; token deleted; synced data kept")
