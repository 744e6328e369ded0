"""The body of ``adinsights reconcile``: our Meta ad rows against Meta's account totals."""

from __future__ import annotations

import click

from adinsights_pipelines.errors import AdinsightsError


def reconcile_command(tenant_id: str | None, days: int) -> None:
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.contracts.reconcile import account_days, conversion_text
    from adinsights_pipelines.tenant_store import require_tenant
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    with engine(rt.db).connect() as conn:
        if tenant_id:
            require_tenant(conn, tenant_id)
        compared = account_days(conn, days, [tenant_id] if tenant_id else None)
    if not compared:
        click.echo(
            f"nothing to compare: no complete day within {days} days has Meta's account "
            "totals (they are read by each Meta sync)"
        )
        return
    header = ("TENANT", "ACCOUNT", "DAY", "CUR", "SPEND OURS", "SPEND META", "IMPR OURS",
              "IMPR META", "CLICKS OURS", "CLICKS META", "CONV OURS", "CONV META",
              "RESULT")  # fmt: skip
    rows = [
        (
            d.tenant_id,
            d.account_id,
            d.day.isoformat(),
            d.currency,
            f"{d.our_spend:.2f}",
            f"{d.meta_spend:.2f}",
            str(d.our_impressions),
            str(d.meta_impressions),
            str(d.our_clicks),
            str(d.meta_clicks),
            conversion_text(d.our_conversions) if d.our_conversions is not None else "-",
            conversion_text(d.meta_conversions) if d.meta_conversions is not None else "-",
            "ok" if not d.mismatches else "MISMATCH",
        )
        for d in compared
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = set(range(4, 12))
    for row in [header, *rows]:
        click.echo(
            "  ".join(
                cell.rjust(w) if i in numeric else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
    bad = [d for d in compared if d.mismatches]
    click.echo("")
    click.echo(
        f"{len(compared)} account-days compared, {len(bad)} mismatched "
        "(spend within 0.01, impressions, clicks and conversions exactly; complete days only; "
        "conversions '-' where not compared)"
    )
    if bad:
        for d in bad[:20]:
            click.echo(f"  {d.tenant_id} {d.account_id} {d.day}: {'; '.join(d.mismatches)}")
        raise AdinsightsError(
            f"{len(bad)} account-days do not match Meta's account totals; the tenants' "
            "snapshots are blocked until a re-sync (or meta-backfill of those days) fixes them"
        )
