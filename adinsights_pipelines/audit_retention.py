"""Audit-log retention: export rows older than the window to JSON lines, then delete them.

Per the runbook the audit trail keeps at least ``audit_retention_days`` (365) days. Nightly, the
rows older than the window are written to ``<destination>/audit_log/<cutoff>-<utc>.jsonl``
(any fsspec URL: a local folder, ``s3://...``, ``memory://...``), the file is read back and
checked, and only then are exactly the exported rows deleted, in one transaction. If the export
or its check fails, nothing is deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import fsspec.core
import sqlalchemy as sa
from sqlalchemy.engine import Engine, Row

from adinsights_pipelines.audit import audit_event_json, record_audit
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.settings import Settings

log = logging.getLogger(__name__)

EXPORT_FOLDER = "audit_log"


class RetentionError(AdinsightsError):
    """The export could not be written or verified; nothing was deleted."""


@dataclass(frozen=True)
class RetentionReport:
    """What a retention pass did.

    In a dry run, ``exported`` and ``deleted`` are the rows a real pass would export and delete;
    nothing is written or deleted and ``destination`` is None.
    """

    cutoff: datetime
    exported: int
    deleted: int
    destination: str | None
    dry_run: bool


def export_destination(settings: Settings) -> str:
    """Where exports go: ``ADINSIGHTS_AUDIT_EXPORT_URL``, else ``<data_dir>/exports``."""
    return settings.audit_export_url or str(settings.data_dir / "exports")


_SELECT = """
    select id, tenant_id, actor, action, resource_type, resource_id, metadata, created_at
      from app.audit_log
     where id > :after and id <= :max_id and created_at < :cutoff
     order by id
     limit :batch
"""


def _old_rows(
    engine: Engine, *, max_id: int, cutoff: datetime, batch_size: int
) -> Iterator[Row[Any]]:
    """Rows with id <= max_id and created_at < cutoff, by id, read in keyset batches."""
    after = 0
    with engine.connect() as conn:
        while True:
            rows = conn.execute(
                sa.text(_SELECT),
                {"after": after, "max_id": max_id, "cutoff": cutoff, "batch": batch_size},
            ).all()
            yield from rows
            if len(rows) < batch_size:
                return
            after = rows[-1].id


def _chunks(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def export_and_purge_audit_log(
    engine: Engine,
    *,
    retention_days: int,
    destination: str,
    now: datetime | None = None,
    dry_run: bool = False,
    batch_size: int = 5000,
) -> RetentionReport:
    """Export audit rows older than ``retention_days`` to ``destination``, verify, delete them.

    The set of rows is fixed up front (``id <= max(id)`` of the old rows, and ``created_at <
    cutoff``), so rows written meanwhile are never touched. Raises :class:`RetentionError`,
    deleting nothing, if the export cannot be written or does not read back identically.
    """
    if retention_days < 1:
        raise RetentionError("retention_days must be at least 1")
    if batch_size < 1:
        raise RetentionError("batch_size must be at least 1")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise RetentionError("now must be timezone-aware")
    cutoff = now - timedelta(days=retention_days)

    with engine.connect() as conn:
        bounds = conn.execute(
            sa.text(
                "select max(id) as max_id, count(*) as n from app.audit_log "
                "where created_at < :cutoff"
            ),
            {"cutoff": cutoff},
        ).one()
    if not bounds.n:
        log.info("audit retention: nothing older than %s", cutoff.isoformat())
        return RetentionReport(cutoff, 0, 0, None, dry_run)
    max_id = int(bounds.max_id)
    if dry_run:
        log.info("audit retention (dry run): would export and delete %d rows", bounds.n)
        return RetentionReport(cutoff, int(bounds.n), int(bounds.n), None, True)

    fs, root = fsspec.core.url_to_fs(destination)
    folder = f"{root.rstrip('/')}/{EXPORT_FOLDER}"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = f"{folder}/{cutoff.astimezone(UTC).date().isoformat()}-{stamp}.jsonl"
    temporary = f"{folder}/.{uuid.uuid4().hex}.jsonl.tmp"
    shown = fs.unstrip_protocol(final)

    # 1. export to a temporary name, then move it into place
    ids: list[int] = []
    digest = hashlib.sha256()
    try:
        fs.makedirs(folder, exist_ok=True)
        if fs.exists(final):
            raise RetentionError(f"{shown} already exists; refusing to overwrite it")
        with fs.open(temporary, "wb") as out:
            for row in _old_rows(engine, max_id=max_id, cutoff=cutoff, batch_size=batch_size):
                line = json.dumps(audit_event_json(row), ensure_ascii=False, separators=(",", ":"))
                data = (line + "\n").encode()
                out.write(data)
                digest.update(data)
                ids.append(int(row.id))
        fs.mv(temporary, final)
    except RetentionError:
        _discard(fs, temporary)
        raise
    except Exception as exc:
        _discard(fs, temporary)
        raise RetentionError(f"audit log export to {shown} failed: {exc}") from exc

    # 2. verify: the file must hold exactly these rows
    try:
        _verify(fs, final, ids, digest.hexdigest())
    except RetentionError:
        raise
    except Exception as exc:
        raise RetentionError(f"audit log export {shown} could not be verified: {exc}") from exc

    # 3. delete exactly the exported ids, all or nothing
    with engine.begin() as conn:
        deleted = 0
        for chunk in _chunks(ids, batch_size):
            result = conn.execute(
                sa.text("delete from app.audit_log where id = any(cast(:ids as bigint[]))"),
                {"ids": chunk},
            )
            deleted += result.rowcount
        if deleted != len(ids):
            raise RetentionError(
                f"expected to delete {len(ids)} exported audit rows but found {deleted}; "
                f"nothing deleted (the export {shown} is kept)"
            )
        record_audit(
            conn,
            tenant_id=None,
            actor="system",
            action="audit_log_purged",
            resource_type="audit_log",
            metadata={
                "cutoff": cutoff.isoformat(),
                "deleted": deleted,
                "export": shown,
                "max_id": max_id,
            },
        )
    log.info(
        "audit retention: exported and deleted %d rows older than %s to %s",
        deleted,
        cutoff.isoformat(),
        shown,
    )
    return RetentionReport(cutoff, len(ids), deleted, shown, False)


def _verify(fs: Any, path: str, ids: list[int], expected_digest: str) -> None:
    with fs.open(path, "rb") as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != expected_digest:
        raise RetentionError(f"export {path} does not match what was written")
    lines = data.decode().splitlines()
    if len(lines) != len(ids):
        raise RetentionError(f"export {path} has {len(lines)} lines, expected {len(ids)}")
    found = [int(json.loads(line)["id"]) for line in lines]
    if len(set(found)) != len(found) or set(found) != set(ids):
        raise RetentionError(f"export {path} does not hold exactly the rows selected")


def _discard(fs: Any, path: str) -> None:
    try:
        if fs.exists(path):
            fs.rm(path)
    except Exception:  # best effort: the original error matters more
        log.warning("could not remove temporary export %s", path, exc_info=True)


def run_retention(dry_run: bool) -> RetentionReport:
    """The CLI's entry point: settings, bootstrap, one retention pass."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.warehouse.database import engine

    runtime = bootstrap()
    settings = runtime.settings
    return export_and_purge_audit_log(
        engine(runtime.db),
        retention_days=settings.audit_retention_days,
        destination=export_destination(settings),
        dry_run=dry_run,
    )
