"""Audit-log retention: export old rows, verify the file, then delete exactly those rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from adinsights_pipelines.audit_retention import RetentionError, export_and_purge_audit_log
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine
from tests.sql import query

NOW = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)


def insert_rows(
    db: Database, ages_days: list[float], tenant_id: str | None = "acme", now: datetime = NOW
) -> list[int]:
    with engine(db).begin() as conn:
        if tenant_id:
            add_tenant(conn, tenant_id, "Acme")
        return [
            conn.execute(
                sa.text(
                    """
                    insert into app.audit_log (tenant_id, actor, action, resource_type,
                                               resource_id, metadata, created_at)
                    values (:t, 'cli', 'tenant_updated', 'tenant', :rid,
                            cast(:m as jsonb), :at)
                    returning id
                    """
                ),
                {
                    "t": tenant_id,
                    "rid": f"r{i}",
                    "m": json.dumps({"n": i, "note": "café"}),
                    "at": now - timedelta(days=age),
                },
            ).scalar_one()
            for i, age in enumerate(ages_days)
        ]


def audit_rows(db: Database) -> dict[int, dict]:
    rows = query(
        db,
        "select id, tenant_id, actor, action, resource_type, resource_id, metadata, created_at "
        "from app.audit_log order by id",
    )
    return {r.id: dict(r._mapping) for r in rows}


def exported_files(root: Path) -> list[Path]:
    folder = root / "audit_log"
    return sorted(folder.glob("*.jsonl")) if folder.exists() else []


def test_old_rows_are_exported_then_deleted_and_young_rows_kept(
    database: Database, tmp_path: Path
) -> None:
    old = insert_rows(database, [400, 366, 365.01, 900])
    young = insert_rows(database, [364.99, 10, 0])
    before = audit_rows(database)

    report = export_and_purge_audit_log(
        engine(database), retention_days=365, destination=str(tmp_path), now=NOW, batch_size=2
    )

    assert report.cutoff == NOW - timedelta(days=365)
    assert (report.exported, report.deleted, report.dry_run) == (4, 4, False)
    [export] = exported_files(tmp_path)
    assert export.name.startswith("2025-05-01-") and report.destination.endswith(export.name)
    assert not [p for p in (tmp_path / "audit_log").iterdir() if p.suffix != ".jsonl"]

    lines = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == sorted(old)
    for line in lines:
        row = before[line["id"]]
        assert datetime.fromisoformat(line["created_at"]) == row["created_at"]
        assert line["created_at"].endswith("+00:00")
        assert {k: v for k, v in line.items() if k != "created_at"} == {
            k: v for k, v in row.items() if k != "created_at"
        }

    after = audit_rows(database)
    assert not set(old) & set(after)
    for row_id in young:
        assert after[row_id] == before[row_id]
    # the purge itself is audited, as a new row outside the window
    [purge] = [r for r in after.values() if r["action"] == "audit_log_purged"]
    assert purge["metadata"]["deleted"] == 4 and purge["tenant_id"] is None
    assert set(after) == (set(before) - set(old)) | {purge["id"]}


def test_failed_export_raises_and_deletes_nothing(database: Database, tmp_path: Path) -> None:
    insert_rows(database, [400, 500, 1])
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file")
    before = audit_rows(database)

    with pytest.raises(RetentionError):
        export_and_purge_audit_log(
            engine(database), retention_days=365, destination=str(blocker / "exports"), now=NOW
        )

    assert audit_rows(database) == before
    assert blocker.read_text() == "a regular file"


def test_export_to_an_fsspec_url(database: Database) -> None:
    import fsspec

    old = insert_rows(database, [400, 401])
    fs = fsspec.filesystem("memory")
    report = export_and_purge_audit_log(
        engine(database), retention_days=365, destination="memory://retention-test", now=NOW
    )
    assert report.destination and report.destination.startswith("memory://")
    files = fs.glob("/retention-test/audit_log/*.jsonl")
    assert len(files) == 1
    with fs.open(files[0], "rb") as handle:
        ids = [json.loads(line)["id"] for line in handle.read().decode().splitlines()]
    assert ids == old
    fs.rm("/retention-test", recursive=True)


def test_dry_run_counts_and_changes_nothing(database: Database, tmp_path: Path) -> None:
    insert_rows(database, [400, 366, 3])
    before = audit_rows(database)

    report = export_and_purge_audit_log(
        engine(database), retention_days=365, destination=str(tmp_path), now=NOW, dry_run=True
    )

    assert (report.exported, report.deleted, report.destination, report.dry_run) == (
        2,
        2,
        None,
        True,
    )
    assert audit_rows(database) == before
    assert not (tmp_path / "audit_log").exists()


def test_nothing_old_writes_no_file(database: Database, tmp_path: Path) -> None:
    insert_rows(database, [364, 1, 0])
    before = audit_rows(database)

    report = export_and_purge_audit_log(
        engine(database), retention_days=365, destination=str(tmp_path), now=NOW
    )

    assert (report.exported, report.deleted, report.destination) == (0, 0, None)
    assert audit_rows(database) == before
    assert not (tmp_path / "audit_log").exists()


def test_dagster_job_exports_and_deletes_old_rows(
    product_env: Database, instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adinsights_pipelines.definitions import defs

    exports = tmp_path / "exports"
    monkeypatch.setenv("ADINSIGHTS_AUDIT_EXPORT_URL", str(exports))
    now = datetime.now(UTC)
    old = insert_rows(product_env, [400, 370], now=now)
    young = insert_rows(product_env, [364, 30], tenant_id=None, now=now)

    result = defs.resolve_job_def("audit_log_retention").execute_in_process(instance=instance)

    assert result.success
    remaining = audit_rows(product_env)
    assert not set(old) & set(remaining)
    assert set(young) <= set(remaining)
    [export] = exported_files(exports)
    assert [json.loads(x)["id"] for x in export.read_text().splitlines()] == old
    [materialized] = [
        e
        for e in result.all_events
        if e.event_type_value == "STEP_OUTPUT" and e.step_key == "purge_old_audit_log"
    ]
    metadata = materialized.event_specific_data.metadata
    assert metadata["deleted"].value == 2


def test_run_retention_uses_settings_and_the_default_export_folder(
    product_env: Database, tmp_path: Path
) -> None:
    from adinsights_pipelines.audit_retention import run_retention

    old = insert_rows(product_env, [500, 400], now=datetime.now(UTC))
    dry = run_retention(dry_run=True)
    assert (dry.exported, dry.dry_run) == (2, True)
    assert set(old) <= set(audit_rows(product_env))

    report = run_retention(dry_run=False)
    assert report.deleted == 2
    [export] = exported_files(tmp_path / "data" / "exports")
    assert [json.loads(x)["id"] for x in export.read_text().splitlines()] == old
    assert not set(old) & set(audit_rows(product_env))
