"""Purging a deactivated tenant's data: export, verify, delete, crypto-shred, audit.

The tables are found, not listed: every base table with a ``tenant_id`` column in the
warehouse's schemas (``information_schema``), so a table added later is covered without a
change here. Two kinds of rows need more than ``tenant_id = :t``:

- Airbyte's Google Ads raw rows carry the customer id, not the tenant: they belong to the
  tenant through its Airbyte connections (:data:`INDIRECT`).
- Credentials, data keys and API key hashes are secrets: they are deleted without being
  exported (:data:`SHREDDED`). Deleting the tenant's data keys is what makes any copy of its
  encrypted credentials (a backup, a replica) unreadable: crypto-shredding.

Every other row is written to ``<destination>/tenant_purge/<tenant>-<utc>/<schema>.<table>.jsonl``
(any fsspec URL, as retention does), as PostgreSQL's own ``row_to_json``. Each file is read
back and checked (line count and SHA-256) before anything is deleted. Then each table is
deleted in a transaction of its own, referencing tables first; a table whose row count changed
since the export is left alone and the purge stops (nothing new should arrive for a deactivated
tenant; run it again). Finally the tenant row goes, its Dagster partition is removed, and one
audit event (tenant_id null, so it survives) records who, when, the counts and the export.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fsspec.core
import sqlalchemy as sa
from dagster import DagsterInstance
from sqlalchemy.engine import Connection, Engine

from adinsights_pipelines.audit import record_audit
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.tenant_store import require_tenant

log = logging.getLogger(__name__)

EXPORT_FOLDER = "tenant_purge"
SCHEMAS_SKIPPED = ("pg_catalog", "information_schema", "public")
#: Deleted, never exported: secrets (crypto-shredding is the point of deleting the keys).
SHREDDED = ("app.platform_credentials", "app.tenant_data_keys", "app.api_keys")
#: Tables that belong to a tenant without a ``tenant_id`` column: the condition selecting its
#: rows (``:t`` is the tenant id).
INDIRECT: dict[str, str] = {
    "raw.google_ads_campaign_performance": (
        "regexp_replace(customer_id, '[^0-9]', '', 'g') in ("
        "select regexp_replace(source_account_id, '[^0-9]', '', 'g') "
        "from app.airbyte_connections where tenant_id = :t and provider = 'google_ads' "
        "and source_account_id is not null)"
    ),
}


class PurgeError(AdinsightsError):
    """The purge was refused or stopped; what was already deleted is said in the message."""


@dataclass(frozen=True)
class PurgeTable:
    name: str  # schema.table
    condition: str
    exported: bool

    @property
    def quoted(self) -> str:
        schema, table = self.name.split(".", 1)
        return f'"{schema}"."{table}"'


@dataclass
class PurgeReport:
    tenant_id: str
    counts: dict[str, int]
    destination: str | None
    dry_run: bool
    deleted: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def tenant_tables(conn: Connection) -> list[PurgeTable]:
    """Every table holding tenant rows, referencing tables before the tables they reference."""
    names = [
        f"{row.table_schema}.{row.table_name}"
        for row in conn.execute(
            sa.text(
                """
                select c.table_schema, c.table_name
                  from information_schema.columns c
                  join information_schema.tables t
                    on t.table_schema = c.table_schema and t.table_name = c.table_name
                 where c.column_name = 'tenant_id' and t.table_type = 'BASE TABLE'
                   and c.table_schema <> all(cast(:skip as text[]))
                   and c.table_schema not like 'pg\\_%'
                 order by 1, 2
                """
            ),
            {"skip": list(SCHEMAS_SKIPPED)},
        )
    ]
    tables = [PurgeTable(name, "tenant_id = :t", name not in SHREDDED) for name in names]
    tables += [PurgeTable(name, cond, True) for name, cond in INDIRECT.items()]
    return _referencing_first(conn, tables)


def _referencing_first(conn: Connection, tables: list[PurgeTable]) -> list[PurgeTable]:
    edges = conn.execute(
        sa.text(
            """
            select child.relnamespace::regnamespace::text || '.' || child.relname as child,
                   parent.relnamespace::regnamespace::text || '.' || parent.relname as parent
              from pg_constraint k
              join pg_class child on child.oid = k.conrelid
              join pg_class parent on parent.oid = k.confrelid
             where k.contype = 'f' and k.conrelid <> k.confrelid
            """
        )
    ).all()
    parents: dict[str, set[str]] = {}
    for edge in edges:
        parents.setdefault(edge.child, set()).add(edge.parent)
    by_name = {t.name: t for t in tables}
    ordered: list[PurgeTable] = []
    placed: set[str] = set()

    def children_of(name: str) -> list[str]:
        return sorted(c for c, ps in parents.items() if name in ps and c in by_name)

    def place(name: str, seen: frozenset[str]) -> None:
        if name in placed or name in seen:
            return
        for child in children_of(name):
            place(child, seen | {name})
        placed.add(name)
        ordered.append(by_name[name])

    # Google Ads rows are found through the connections: they go before them.
    for name in sorted(by_name, key=lambda n: (n not in INDIRECT, n)):
        place(name, frozenset())
    return ordered


def _count(conn: Connection, table: PurgeTable, tenant_id: str) -> int:
    return int(
        conn.execute(
            sa.text(f"select count(*) from {table.quoted} where {table.condition}"),
            {"t": tenant_id},
        ).scalar_one()
    )


def purge_tenant(
    engine: Engine,
    instance: DagsterInstance | None,
    tenant_id: str,
    *,
    destination: str,
    dry_run: bool = False,
    actor: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> PurgeReport:
    with engine.connect() as conn:
        require_tenant(conn, tenant_id)
        status: str = conn.execute(
            sa.text("select status from app.tenants where id = :t"), {"t": tenant_id}
        ).scalar_one()
        if status == "active":
            raise PurgeError(
                f"tenant {tenant_id!r} is active: deactivate it first "
                f"(adinsights tenants deactivate {tenant_id})"
            )
        tables = tenant_tables(conn)
        counts = {t.name: _count(conn, t, tenant_id) for t in tables}
    if dry_run:
        return PurgeReport(tenant_id, counts, None, True)

    fs, root = fsspec.core.url_to_fs(destination)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = f"{root.rstrip('/')}/{EXPORT_FOLDER}/{tenant_id}-{stamp}"
    shown_folder = fs.unstrip_protocol(folder)
    report = PurgeReport(tenant_id, counts, shown_folder, False)

    # 1. export every non-secret table (empty ones too: the export says what was looked at)
    written: dict[str, tuple[str, int, str]] = {}
    try:
        fs.makedirs(folder, exist_ok=True)
        for table in tables:
            if not table.exported:
                continue
            path = f"{folder}/{table.name}.jsonl"
            written[table.name] = _export(engine, fs, path, table, tenant_id)
            report.files[table.name] = fs.unstrip_protocol(path)
            if written[table.name][1]:
                progress(f"exported {written[table.name][1]:,} rows of {table.name}")
    except PurgeError:
        raise
    except Exception as exc:
        raise PurgeError(f"export to {shown_folder} failed: {exc}; nothing was deleted") from exc

    # 2. verify each file: what was written is what is there
    for path, rows, digest in written.values():
        try:
            with fs.open(path, "rb") as handle:
                data = handle.read()
        except Exception as exc:
            raise PurgeError(
                f"export {fs.unstrip_protocol(path)} cannot be read back: {exc}; nothing deleted"
            ) from exc
        if hashlib.sha256(data).hexdigest() != digest or data.count(b"\n") != rows:
            raise PurgeError(
                f"export {fs.unstrip_protocol(path)} does not match what was written; "
                "nothing was deleted"
            )
    progress(f"export verified: {len(written)} files in {shown_folder}")

    # 3. delete, one transaction per table, referencing tables first
    for table in tables:
        expected = written[table.name][1] if table.name in written else None
        with engine.begin() as conn:
            deleted = conn.execute(
                sa.text(f"delete from {table.quoted} where {table.condition}"),
                {"t": tenant_id},
            ).rowcount
            if expected is not None and deleted != expected:
                done = ", ".join(f"{k} {v}" for k, v in report.deleted.items() if v) or "none"
                raise PurgeError(
                    f"{table.name}: {deleted} rows to delete but {expected} exported (rows "
                    f"changed meanwhile); stopped, nothing deleted from it. Deleted so far: "
                    f"{done}. Run the purge again."
                )
        report.deleted[table.name] = deleted
        if deleted:
            progress(f"deleted {deleted:,} rows of {table.name}")

    # 4. the tenant itself, its partition, and the audit event that survives the purge
    with engine.begin() as conn:
        conn.execute(sa.text("delete from app.tenants where id = :t"), {"t": tenant_id})
        record_audit(
            conn,
            tenant_id=None,
            actor=actor or f"cli:{getpass.getuser()}",
            action="tenant_purged",
            resource_type="tenant",
            resource_id=tenant_id,
            metadata={
                "purged_at": datetime.now(UTC).isoformat(),
                "deleted": report.deleted,
                "exported": {name: rows for name, (_, rows, _) in written.items()},
                "shredded": [t.name for t in tables if not t.exported],
                "export": shown_folder,
            },
        )
    if instance is not None:
        from adinsights_pipelines.defs.tenants.partitions import TENANT_PARTITIONS

        if instance.has_dynamic_partition(TENANT_PARTITIONS, tenant_id):
            instance.delete_dynamic_partition(TENANT_PARTITIONS, tenant_id)
    log.info("tenant purged", extra={"tenant_id": tenant_id, "export": shown_folder})
    return report


def _export(
    engine: Engine, fs: Any, path: str, table: PurgeTable, tenant_id: str
) -> tuple[str, int, str]:
    """Write the table's tenant rows as JSON lines (``row_to_json``); (path, rows, sha256)."""
    temporary = f"{path}.{uuid.uuid4().hex}.tmp"
    digest = hashlib.sha256()
    rows = 0
    with engine.connect() as conn, fs.open(temporary, "wb") as out:
        result = conn.execution_options(stream_results=True, max_row_buffer=5000).execute(
            sa.text(f"select row_to_json(x)::text from {table.quoted} x where {table.condition}"),
            {"t": tenant_id},
        )
        for (line,) in result:
            data = (str(line) + "\n").encode()
            out.write(data)
            digest.update(data)
            rows += 1
    fs.mv(temporary, path)
    return path, rows, digest.hexdigest()


def render_counts(report: PurgeReport) -> str:
    rows = [(name, count) for name, count in report.counts.items() if count]
    width = max([len(n) for n, _ in rows] + [5])
    lines = [f"{'TABLE':<{width}}  ROWS"]
    lines += [f"{name:<{width}}  {count:>,}" for name, count in rows]
    lines.append(f"{'total':<{width}}  {report.total:>,}")
    return "\n".join(lines)
