"""``adinsights api-keys``, ``rotate-deks`` and ``generate-master-key``: keys to the API and to
the stored tokens."""

from __future__ import annotations

import click

from adinsights_pipelines.cli.common import progress, require_tenant, start
from adinsights_pipelines.errors import AdinsightsError


@click.group("api-keys")
def api_keys() -> None:
    """Manage API keys (stored hashed; shown once)."""


@api_keys.command("create")
@click.option("--tenant", "tenant_id", help="The tenant this key may read.")
@click.option("--operator", is_flag=True, help="A key that may read every tenant.")
@click.option("--label", default="")
def api_keys_create(tenant_id: str | None, operator: bool, label: str) -> None:
    """Create a key and print it (it cannot be shown again)."""
    from adinsights_pipelines.api_keys import create_api_key

    _, eng = start()
    with eng.begin() as conn:
        key = create_api_key(conn, tenant_id=tenant_id, operator=operator, label=label)
    click.echo(key)


@api_keys.command("list")
@click.option(
    "--unused-days",
    type=click.IntRange(min=1),
    help="Only active keys not used (nor created) in the last N days.",
)
def api_keys_list(unused_days: int | None) -> None:
    """List keys (prefix, role, tenant, last use; never the key)."""
    from adinsights_pipelines.api_keys import list_api_keys

    _, eng = start()
    with eng.connect() as conn:
        keys = list_api_keys(conn, unused_days=unused_days)
    click.echo(f"{'PREFIX':<10} {'ROLE':<9} {'TENANT':<24} {'STATE':<8} {'LAST USED':<17} LABEL")
    for k in keys:
        state = "revoked" if k.revoked_at else "active"
        used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never"
        click.echo(
            f"{k.prefix:<10} {k.role:<9} {k.tenant_id or '*':<24} {state:<8} {used:<17} {k.label}"
        )


@api_keys.command("revoke")
@click.argument("prefix")
def api_keys_revoke(prefix: str) -> None:
    """Revoke the key with PREFIX (the part after adi_)."""
    from adinsights_pipelines.api_keys import revoke_api_key

    _, eng = start()
    with eng.begin() as conn:
        if not revoke_api_key(conn, prefix):
            raise AdinsightsError(f"no active API key with prefix {prefix!r}")
    click.echo(f"revoked {prefix}")


@click.command("rotate-deks")
@click.option("--dry-run", is_flag=True, help="Count what would be rotated; change nothing.")
@click.option("--tenant-id", help="Rotate one tenant only.")
def rotate_deks_command(dry_run: bool, tenant_id: str | None) -> None:
    """Give tenants new data keys (wrapped by the current master key); re-encrypt credentials."""
    from adinsights_pipelines.encryption import rotate_deks

    rt, eng = start()
    require_tenant(eng, tenant_id)
    report = rotate_deks(
        eng,
        rt.keyring,
        tenant_id=tenant_id,
        dry_run=dry_run,
        on_tenant_done=lambda tenant, count: progress(
            f"{'would rotate' if dry_run else 'rotated'} {tenant}: {count} credentials"
        ),
        on_tenant_unreadable=lambda tenant, key_ids: progress(
            f"unreadable {tenant}: wrapped by master key {', '.join(key_ids)} (not held here)"
        ),
    )
    verb = "would rotate" if dry_run else "rotated"
    unreadable = f"; {len(report.unreadable)} unreadable" if report.unreadable else ""
    click.echo(
        f"{verb} {len(report.tenants)} tenants, {report.credentials} credentials{unreadable}"
    )


@click.command("generate-master-key")
def generate_master_key_command() -> None:
    """Print a new random master key for ADINSIGHTS_MASTER_KEY."""
    from adinsights_pipelines.encryption import generate_master_key

    click.echo(generate_master_key())
