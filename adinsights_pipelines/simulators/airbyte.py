"""Loopback simulator of a self-hosted Airbyte (OSS) server syncing Google Ads into PostgreSQL.

It serves what dagster-airbyte 0.29's ``AirbyteClient`` calls with OSS URLs
(``rest_api_base_url=<url>/api/public/v1``, ``configuration_api_base_url=<url>/api/v1``), in
Airbyte's shapes:

Public API (``/api/public/v1``)
    ``POST /applications/token`` (client credentials -> a bearer token valid 180 s),
    ``GET /workspaces/{id}``, ``GET /connections`` (``workspaceIds``, ``limit`` 1-100,
    ``offset``; ``next``/``previous`` links), ``GET /connections/{id}``,
    ``GET /sources/{id}``, ``GET /destinations/{id}``, ``GET /jobs`` (``connectionId``,
    ``workspaceIds``, ``status``, ``jobType``, ``createdAtStart``/``createdAtEnd``, ``orderBy``,
    ``limit`` 1-100 default 20, ``offset``; newest first), ``POST /jobs`` (409 ``state-conflict``
    "A sync is already running for: <id>" while one runs), ``GET /jobs/{id}``,
    ``DELETE /jobs/{id}`` (the cancelled job, as JSON). Job statuses are lowercase (``pending``,
    ``running``, ``succeeded``, ``failed``, ``cancelled``, ``incomplete``); jobs carry
    ``startTime``, ``lastUpdatedAt``, an ISO-8601 ``duration``, ``rowsSynced`` and
    ``bytesSynced``. Errors are RFC 9457 problems as Airbyte writes them.
Configuration API (``/api/v1``)
    ``POST /connections/get`` (the connection with its ``syncCatalog``), ``POST /jobs/get``
    (the job with its attempts and ``failureSummary``: where a failed job's reason lives),
    ``GET /health``.

Syncs
    A connection is a Google Ads customer (``customer_id``, currency) feeding the stream
    ``campaign_performance`` with prefix ``google_ads_`` into the namespace ``raw`` of its
    destination database: ``raw.google_ads_campaign_performance``, in the shape Airbyte's
    Postgres destination writes (dots become underscores, ``_airbyte_*`` columns). A job is
    ``pending`` for ``pending_s``, ``running`` for ``job_duration_s`` (real seconds), then appends
    campaign x day x region rows (spend in cost micros, impressions, clicks, conversions) in one
    transaction and succeeds with ``rowsSynced``/``bytesSynced``. The first successful sync of a
    connection reads ``initial_days`` days, later ones re-read the last ``lookback_days`` days
    (Google Ads' conversion window), appending newer copies with a newer
    ``_airbyte_extracted_at``. Every number derives from ``seed``, the customer, the campaign,
    the day and the region; today's numbers grow with the (virtual) time of day.

Knobs (attributes of :class:`AirbyteSimState`, or ``POST /__sim__/config`` with the same names)
    ``job_duration_s`` (0.5), ``pending_s`` (0), ``initial_days`` (30), ``lookback_days`` (14),
    ``fail_next_jobs`` (the next n jobs fail with ``failure_reason``), ``hang_next_jobs`` (the
    next n jobs run until cancelled), ``latency_s``, ``webhook_url`` and ``webhook_secret``
    (job-completion notifications in Airbyte's webhook shape, the secret in
    ``X-Airbyte-Webhook-Secret``) and ``now`` (shifts the virtual clock; it keeps running).
    Server faults: :meth:`AirbyteSimState.inject` (``POST /__sim__/faults``) makes the next n
    matching requests answer 5xx; :meth:`AirbyteSimulator.down` stops listening (connection
    refused) and :meth:`AirbyteSimulator.up` listens again on the same port, jobs and all.

Simulator control over HTTP::

    GET/POST     /__sim__/connections  list / add {"customer_id": "1234567890", "currency": "JMD",
                                        "database_url": "postgresql://..."} (database optional)
    GET/POST/DELETE /__sim__/config     knobs
    GET/POST/DELETE /__sim__/faults     {"path_contains": "/jobs", "count": 2, "http_status": 503}
    GET/DELETE   /__sim__/requests     request log
    GET          /__sim__/webhooks     webhook deliveries (status code per job)
    POST         /__sim__/reset        knobs, faults, log and jobs back to a fresh state
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import psycopg
import requests
import uvicorn
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adinsights_pipelines.simulators.control import (
    RequestRecord,
    SimulatorControls,
    control_routes,
    refuse_unknown_knobs,
)
from adinsights_pipelines.simulators.server import LoopbackServer

__all__ = [
    "KNOB_NAMES",
    "RAW_TABLE",
    "AirbyteSimState",
    "AirbyteSimulator",
    "SimConnection",
    "create_app",
    "main",
]

log = logging.getLogger(__name__)

PUBLIC = "/api/public/v1"
CONFIG = "/api/v1"
STREAM_NAME = "campaign_performance"
STREAM_PREFIX = "google_ads_"
NAMESPACE = "raw"
RAW_TABLE = f"{NAMESPACE}.{STREAM_PREFIX}{STREAM_NAME}"
TOKEN_TTL_S = 180
MASKED = "**********"
RUNNING_STATUSES = ("pending", "running", "incomplete")
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")
DEFAULT_FAILURE_REASON = (
    "Authentication failed: the OAuth refresh token of the Google Ads account has expired or "
    "been revoked. Re-authenticate the source."
)
#: Airbyte's definition ids of the two connectors the simulator pretends to run.
GOOGLE_ADS_DEFINITION_ID = "253487c0-2246-43ba-a21f-5116b20a2c50"
POSTGRES_DEFINITION_ID = "25c5221d-dce2-4163-ade9-739ef790f503"
JAMAICA = ZoneInfo("America/Jamaica")
#: Google's geo target constants for the parishes (dbt_project/seeds/google_geo_targets.csv),
#: with a relative audience weight.
PARISH_TARGETS = (
    (9070001, 2.0), (9070002, 1.8), (9070003, 0.35), (9070004, 0.35), (9070005, 0.4),
    (9070006, 0.7), (9070007, 0.3), (9070008, 1.1), (9070009, 0.25), (9070010, 0.45),
    (9070011, 0.5), (9070012, 0.8), (9070013, 0.6), (9070014, 1.4),
)  # fmt: skip
#: A criterion id no seed knows: staging must map it to "unknown region", like a null region.
UNKNOWN_TARGET = 9079999
_CAMPAIGN_NAMES = (
    "Brand - Search", "Kingston Display", "Performance Max - Retail", "Back to School",
    "YouTube - Awareness", "Remarketing - All Visitors", "Summer Promo", "Generic - Search",
)  # fmt: skip
#: (low, high) cost per click in the account currency.
_CPC = {"JMD": (25.0, 180.0), "USD": (0.15, 1.2)}

RAW_COLUMNS = (
    "_airbyte_raw_id",
    "_airbyte_extracted_at",
    "_airbyte_meta",
    "_airbyte_generation_id",
    "customer_id",
    "customer_currency_code",
    "campaign_id",
    "campaign_name",
    "campaign_status",
    "segments_date",
    "segments_geo_target_region",
    "metrics_cost_micros",
    "metrics_impressions",
    "metrics_clicks",
    "metrics_conversions",
    "metrics_conversions_value",
)
STREAM_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": True,
    "properties": {
        "customer.id": {"type": ["null", "integer"]},
        "customer.currency_code": {"type": ["null", "string"]},
        "campaign.id": {"type": ["null", "integer"]},
        "campaign.name": {"type": ["null", "string"]},
        "campaign.status": {
            "type": ["null", "string"],
            "enum": ["UNSPECIFIED", "UNKNOWN", "ENABLED", "PAUSED", "REMOVED"],
        },
        "segments.date": {"type": ["null", "string"], "format": "date"},
        "segments.geo_target_region": {"type": ["null", "string"]},
        "metrics.cost_micros": {"type": ["null", "integer"]},
        "metrics.impressions": {"type": ["null", "integer"]},
        "metrics.clicks": {"type": ["null", "integer"]},
        "metrics.conversions": {"type": ["null", "number"]},
        "metrics.conversions_value": {"type": ["null", "number"]},
    },
}
PRIMARY_KEY = [["customer.id"], ["campaign.id"], ["segments.date"], ["segments.geo_target_region"]]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class Problem(Exception):
    """An Airbyte API problem (RFC 9457), as ``api-problems.yaml`` defines them."""

    def __init__(self, status: int, title: str, detail: str, kind: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.kind = kind if kind is not None else f"#{title}"

    def response(self) -> JSONResponse:
        return JSONResponse(
            {
                "type": f"https://reference.airbyte.com/reference/errors{self.kind}",
                "title": self.title,
                "status": self.status,
                "detail": self.detail,
                "data": {"message": self.detail},
            },
            status_code=self.status,
            media_type="application/problem+json",
        )


K = TypeVar("K")
V = TypeVar("V")


def _not_found(what: str, ident: object) -> Problem:
    return Problem(404, "resource-not-found", f"Could not find a {what} with id: {ident}")


def _bad_request(detail: str) -> Problem:
    return Problem(400, "bad-request", detail)


def _conflict(detail: str) -> Problem:
    return Problem(409, "state-conflict", detail, kind="#409-state-conflict")


def _unauthorized() -> Problem:
    return Problem(
        401,
        "invalid-api-key",
        "The API key in the Authorization header is invalid.",
        kind="#invalid-api-key",
    )


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


def _uuid(seed: int, *parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"airbyte-sim/{seed}/" + "/".join(map(str, parts))))


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_duration(seconds: float) -> str:
    """Like Java's ``Duration.toString()``: ``PT1M2.5S``."""
    whole_minutes, secs = divmod(max(seconds, 0.0), 60)
    hours, minutes = divmod(int(whole_minutes), 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    secs = round(secs, 3)
    if secs or text == "PT":
        text += f"{secs:g}S"
    return text


def _parse_time(raw: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _bad_request(f"{name} must be an ISO-8601 date-time, got {raw!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class SimDestination:
    destination_id: str
    database_url: str | None
    created_at: datetime

    def response(self, workspace_id: str) -> dict[str, Any]:
        config: dict[str, Any] = {
            "schema": NAMESPACE,
            "ssl_mode": {"mode": "disable"},
            "tunnel_method": {"tunnel_method": "NO_TUNNEL"},
            "disable_type_dedupe": False,
        }
        if self.database_url:
            url = make_url(self.database_url)
            config.update(
                host=url.query.get("host") or url.host or "localhost",
                port=url.port or 5432,
                database=url.database,
                username=url.username or "postgres",
                password=MASKED,  # Airbyte masks secrets in every answer
            )
        return {
            "destinationId": self.destination_id,
            "name": "Warehouse (Postgres)",
            "destinationType": "postgres",
            "definitionId": POSTGRES_DEFINITION_ID,
            "workspaceId": workspace_id,
            "configuration": config,
            "createdAt": int(self.created_at.timestamp()),
        }


@dataclass
class SimConnection:
    """An Airbyte connection: one Google Ads customer into one destination database."""

    connection_id: str
    name: str
    customer_id: str
    currency: str
    source_id: str
    destination_id: str
    created_at: datetime
    status: str = "active"

    def streams_config(self) -> list[dict[str, Any]]:
        return [
            {
                "name": STREAM_NAME,
                "syncMode": "incremental_append",
                "cursorField": ["segments.date"],
                "primaryKey": PRIMARY_KEY,
            }
        ]

    def response(self, workspace_id: str) -> dict[str, Any]:
        """The public API's ``ConnectionResponse``."""
        return {
            "connectionId": self.connection_id,
            "name": self.name,
            "sourceId": self.source_id,
            "destinationId": self.destination_id,
            "workspaceId": workspace_id,
            "status": self.status,
            "schedule": {"scheduleType": "manual"},
            "dataResidency": "auto",
            "nonBreakingSchemaUpdatesBehavior": "ignore",
            "namespaceDefinition": "custom_format",
            "namespaceFormat": NAMESPACE,
            "prefix": STREAM_PREFIX,
            "configurations": {"streams": self.streams_config()},
            "createdAt": int(self.created_at.timestamp()),
        }

    def read(self) -> dict[str, Any]:
        """The configuration API's ``ConnectionRead`` (``POST /api/v1/connections/get``)."""
        return {
            "connectionId": self.connection_id,
            "name": self.name,
            "namespaceDefinition": "customformat",
            "namespaceFormat": NAMESPACE,
            "prefix": STREAM_PREFIX,
            "sourceId": self.source_id,
            "destinationId": self.destination_id,
            "operationIds": [],
            "syncCatalog": {
                "streams": [
                    {
                        "stream": {
                            "name": STREAM_NAME,
                            "jsonSchema": STREAM_JSON_SCHEMA,
                            "supportedSyncModes": ["full_refresh", "incremental"],
                            "sourceDefinedCursor": True,
                            "defaultCursorField": ["segments.date"],
                            "sourceDefinedPrimaryKey": PRIMARY_KEY,
                            "namespace": None,
                        },
                        "config": {
                            "syncMode": "incremental",
                            "cursorField": ["segments.date"],
                            "destinationSyncMode": "append",
                            "primaryKey": PRIMARY_KEY,
                            "aliasName": STREAM_NAME,
                            "selected": True,
                            "fieldSelectionEnabled": False,
                        },
                    }
                ]
            },
            "scheduleType": "manual",
            "status": self.status,
            "sourceCatalogId": _uuid(0, "catalog", self.connection_id),
            "geography": "auto",
            "breakingChange": False,
            "notifySchemaChanges": True,
            "nonBreakingChangesPreference": "ignore",
            "createdAt": int(self.created_at.timestamp()),
        }

    def source_response(self, workspace_id: str) -> dict[str, Any]:
        return {
            "sourceId": self.source_id,
            "name": f"Google Ads {self.customer_id}",
            "sourceType": "google-ads",
            "definitionId": GOOGLE_ADS_DEFINITION_ID,
            "workspaceId": workspace_id,
            "configuration": {
                "customer_id": self.customer_id,
                "conversion_window_days": 14,
                "credentials": {
                    "developer_token": MASKED,
                    "client_id": MASKED,
                    "client_secret": MASKED,
                    "refresh_token": MASKED,
                },
            },
            "createdAt": int(self.created_at.timestamp()),
        }


@dataclass
class SimJob:
    job_id: int
    connection_id: str
    job_type: str
    created_at: datetime
    status: str = "pending"
    updated_at: datetime | None = None
    ended_at: datetime | None = None
    rows: int = 0
    bytes: int = 0
    failure: str | None = None
    failure_origin: str | None = None
    hang: bool = False
    fail_with: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        return self.status in RUNNING_STATUSES

    def response(self, now: datetime) -> dict[str, Any]:
        """The public API's ``JobResponse``."""
        end = self.ended_at or now
        return {
            "jobId": self.job_id,
            "status": self.status,
            "jobType": self.job_type,
            "startTime": _iso(self.created_at),
            "connectionId": self.connection_id,
            "lastUpdatedAt": _iso(self.updated_at or self.created_at),
            "duration": _iso_duration((end - self.created_at).total_seconds()),
            "bytesSynced": self.bytes,
            "rowsSynced": self.rows,
        }

    def info(self) -> dict[str, Any]:
        """The configuration API's ``JobInfoRead`` (``POST /api/v1/jobs/get``)."""
        stats = {
            "recordsEmitted": self.rows,
            "bytesEmitted": self.bytes,
            "recordsCommitted": self.rows,
            "bytesCommitted": self.bytes,
        }
        attempt: dict[str, Any] = {
            "id": 0,
            "status": "running" if self.running else self.status,
            "createdAt": int(self.created_at.timestamp()),
            "updatedAt": int((self.updated_at or self.created_at).timestamp()),
            "bytesSynced": self.bytes,
            "recordsSynced": self.rows,
            "totalStats": stats,
            "streamStats": [{"streamName": STREAM_NAME, "stats": stats}],
        }
        if self.ended_at:
            attempt["endedAt"] = int(self.ended_at.timestamp())
        if self.failure:
            attempt["failureSummary"] = {
                "failures": [
                    {
                        "failureOrigin": self.failure_origin or "source",
                        "failureType": "config_error"
                        if self.failure_origin == "source"
                        else "system_error",
                        "externalMessage": self.failure,
                        "internalMessage": self.failure,
                        "retryable": self.failure_origin != "source",
                        "timestamp": int((self.ended_at or self.created_at).timestamp() * 1000),
                    }
                ],
                "partialSuccess": False,
            }
        return {
            "job": {
                "id": self.job_id,
                "configType": self.job_type,
                "configId": self.connection_id,
                "enabled": True,
                "createdAt": int(self.created_at.timestamp()),
                "updatedAt": int((self.updated_at or self.created_at).timestamp()),
                "status": self.status,
                "aggregatedStats": stats,
            },
            "attempts": [] if self.status == "pending" else [{"attempt": attempt, "logs": {}}],
        }


@dataclass
class Fault:
    """``remaining`` more requests whose path contains ``path_contains`` answer ``http_status``."""

    path_contains: str = ""
    count: int = 1
    http_status: int = 500
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        if not 500 <= self.http_status <= 599:
            raise ValueError("http_status must be a 5xx status")
        self.remaining = self.count


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    status: str
    daily_impressions: float
    ctr: float
    cpc: float
    cvr: float
    paused_days_ago: int | None


#: The knobs :meth:`AirbyteSimState.configure` and ``POST /__sim__/config`` accept.
KNOB_NAMES = (
    "job_duration_s",
    "pending_s",
    "initial_days",
    "lookback_days",
    "fail_next_jobs",
    "failure_reason",
    "hang_next_jobs",
    "latency_s",
    "webhook_url",
    "webhook_secret",
)


class AirbyteSimState(SimulatorControls[Fault, RequestRecord]):
    """Thread-safe simulator state: workspace, connections, jobs, knobs, faults, request log.

    ``database_url`` is the default destination of connections added without one.
    ``client_id``/``client_secret`` turn on Airbyte's application auth (a bearer token from
    ``/applications/token`` on every call); ``username``/``password`` turn on basic auth;
    neither: no auth, as an OSS install with auth disabled.
    """

    def __init__(
        self,
        *,
        seed: int = 42,
        database_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.seed = seed
        self.database_url = database_url
        self.workspace_id = _uuid(seed, "workspace")
        self._applications = {client_id: client_secret} if client_id and client_secret else {}
        self._basic = (username, password) if username and password else None
        super().__init__(threading.RLock())
        self._tokens: dict[str, datetime] = {}
        self._connections: dict[str, SimConnection] = {}
        self._destinations: dict[str, SimDestination] = {}
        self._jobs: dict[int, SimJob] = {}
        # Airbyte's job ids only grow; a restarted simulator writing into the same database
        # must not reuse the ids of its previous life, so they start from the clock.
        self._job_ids = itertools.count(int(time.time() * 1000))
        self._webhooks: list[dict[str, Any]] = []
        self._offset = timedelta(0)
        self._reset_knobs()

    def _reset_knobs(self) -> None:
        #: Real seconds a job stays ``pending``, then ``running``, before it writes its rows.
        self.pending_s: float = 0.0
        self.job_duration_s: float = 0.5
        #: Days the first successful sync of a connection reads, and later syncs re-read.
        self.initial_days: int = 30
        self.lookback_days: int = 14
        #: The next ``fail_next_jobs`` jobs fail with ``failure_reason`` (a source config error).
        self.fail_next_jobs: int = 0
        self.failure_reason: str = DEFAULT_FAILURE_REASON
        #: The next ``hang_next_jobs`` jobs stay ``running`` until cancelled.
        self.hang_next_jobs: int = 0
        #: Seconds every API request waits before it is answered.
        self.latency_s: float = 0.0
        #: Where job-completion notifications go (Airbyte's webhook shape), and the secret sent.
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None

    # clock --------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The virtual clock: real UTC time shifted by :meth:`set_now` (it keeps running)."""
        return datetime.now(UTC) + self._offset

    def set_now(self, moment: datetime | None) -> None:
        """Shift the clock so that it reads ``moment`` now (``None``: the real time)."""
        if moment is None:
            self._offset = timedelta(0)
        else:
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            self._offset = moment - datetime.now(UTC)

    # knobs --------------------------------------------------------------------------------
    def configure(self, **knobs: Any) -> dict[str, Any]:
        refuse_unknown_knobs(knobs, {*KNOB_NAMES, "now"})
        with self._lock:
            for name, value in knobs.items():
                if name == "now":
                    self.set_now(None if value is None else _parse_time(str(value), "now"))
                elif name in ("job_duration_s", "pending_s", "latency_s"):
                    if float(value) < 0:
                        raise ValueError(f"{name} must be >= 0")
                    setattr(self, name, float(value))
                elif name in ("initial_days", "lookback_days"):
                    if int(value) < 1:
                        raise ValueError(f"{name} must be >= 1")
                    setattr(self, name, int(value))
                elif name in ("fail_next_jobs", "hang_next_jobs"):
                    if int(value) < 0:
                        raise ValueError(f"{name} must be >= 0")
                    setattr(self, name, int(value))
                else:
                    setattr(self, name, None if value is None else str(value))
        return self.knobs()

    def knobs(self) -> dict[str, Any]:
        with self._lock:
            values = {name: getattr(self, name) for name in KNOB_NAMES}
        values["webhook_secret"] = "***" if values["webhook_secret"] else None
        return {**values, "now": _iso(self.now()), "workspace_id": self.workspace_id}

    def reset_knobs(self) -> None:
        with self._lock:
            self._offset = timedelta(0)
            self._reset_knobs()

    def reset(self) -> None:
        """Knobs, faults, the request log, webhook deliveries and jobs back to a fresh state.

        Running jobs are cancelled; connections stay (they are the server's configuration).
        """
        with self._lock:
            for job in self._jobs.values():
                job.cancel.set()
            self._jobs.clear()
            self._faults.clear()
            self._log.clear()
            self._webhooks.clear()
            self._tokens.clear()
        self.reset_knobs()

    # faults and the request log -----------------------------------------------------------
    def inject(self, path_contains: str = "", count: int = 1, http_status: int = 500) -> Fault:
        return self._add_fault(Fault(path_contains, count, http_status))

    def request_count(self, path_contains: str = "", method: str | None = None) -> int:
        """Number of requests whose path contains the text (and of ``method``, if given)."""
        return sum(
            1
            for r in self.requests
            if path_contains in r.path and (method is None or r.method == method)
        )

    @property
    def webhook_deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._webhooks)

    # auth ---------------------------------------------------------------------------------
    @property
    def auth_required(self) -> bool:
        return bool(self._applications or self._basic)

    def issue_token(self, client_id: Any, client_secret: Any) -> dict[str, Any]:
        expected = self._applications.get(str(client_id)) if client_id else None
        if expected is None or not secrets.compare_digest(str(client_secret or ""), expected):
            raise Problem(
                401, "invalid-credentials", "Invalid client id or secret", "#invalid-credentials"
            )
        token = "sim_" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = self.now() + timedelta(seconds=TOKEN_TTL_S)
        return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL_S}

    def check_auth(self, authorization: str | None) -> None:
        if not self.auth_required:
            return
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and value:
            with self._lock:
                expires = self._tokens.get(value.strip())
            if expires is not None and expires > self.now():
                return
        if scheme.lower() == "basic" and self._basic is not None:
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                raise _unauthorized() from None
            if secrets.compare_digest(f"{user}:{password}", ":".join(self._basic)):
                return
        raise _unauthorized()

    # configuration ------------------------------------------------------------------------
    def add_connection(
        self,
        customer_id: str,
        *,
        currency: str | None = None,
        database_url: str | None = None,
        name: str | None = None,
    ) -> SimConnection:
        """A Google Ads connection for ``customer_id`` into ``database_url`` (or the default).

        Adding the same customer and destination again returns the same connection.
        """
        customer_id = re.sub(r"\D", "", str(customer_id))
        if not 6 <= len(customer_id) <= 12:
            raise ValueError("customer_id must be a Google Ads customer id (10 digits)")
        url = database_url or self.database_url
        with self._lock:
            destination_id = _uuid(self.seed, "destination", url or "")
            if destination_id not in self._destinations:
                self._destinations[destination_id] = SimDestination(destination_id, url, self.now())
            connection_id = _uuid(self.seed, "connection", customer_id, destination_id)
            existing = self._connections.get(connection_id)
            if existing is not None:
                return existing
            chosen = currency or ("USD" if _unit(self.seed, customer_id, "ccy") < 0.25 else "JMD")
            if chosen not in _CPC:
                raise ValueError(f"currency must be one of {', '.join(_CPC)}")
            connection = SimConnection(
                connection_id=connection_id,
                name=name or f"Google Ads {customer_id} \u2192 Warehouse",
                customer_id=customer_id,
                currency=chosen,
                source_id=_uuid(self.seed, "source", customer_id),
                destination_id=destination_id,
                created_at=self.now(),
            )
            self._connections[connection_id] = connection
            return connection

    @property
    def connections(self) -> list[SimConnection]:
        with self._lock:
            return list(self._connections.values())

    def _one(self, objects: Mapping[K, V], what: str, ident: K) -> V:
        """``objects[ident]``, read under the lock; Airbyte's 404 problem when there is none."""
        with self._lock:
            found = objects.get(ident)
        if found is None:
            raise _not_found(what, ident)
        return found

    def connection(self, connection_id: str) -> SimConnection:
        return self._one(self._connections, "connection", connection_id)

    def destination(self, destination_id: str) -> SimDestination:
        return self._one(self._destinations, "destination", destination_id)

    def source_connection(self, source_id: str) -> SimConnection:
        for connection in self.connections:
            if connection.source_id == source_id:
                return connection
        raise _not_found("source", source_id)

    def check_workspace(self, workspace_id: str) -> None:
        if workspace_id != self.workspace_id:
            raise _not_found("workspace", workspace_id)

    # jobs ---------------------------------------------------------------------------------
    def job(self, job_id: int) -> SimJob:
        return self._one(self._jobs, "job", job_id)

    @property
    def jobs(self) -> list[SimJob]:
        with self._lock:
            return list(self._jobs.values())

    def start_job(self, connection_id: str, job_type: str = "sync") -> SimJob:
        if job_type not in ("sync", "reset"):
            raise _bad_request(f"jobType must be sync or reset, got {job_type!r}")
        connection = self.connection(connection_id)
        with self._lock:
            if connection.status != "active":
                raise _conflict(f"Connection {connection_id} is {connection.status}")
            if any(j.running and j.connection_id == connection_id for j in self._jobs.values()):
                raise _conflict(f"A sync is already running for: {connection_id}")
            job = SimJob(next(self._job_ids), connection_id, job_type, self.now())
            if self.hang_next_jobs > 0:
                self.hang_next_jobs -= 1
                job.hang = True
            elif self.fail_next_jobs > 0:
                self.fail_next_jobs -= 1
                job.fail_with = self.failure_reason
            if self.pending_s <= 0:
                job.status = "running"
            self._jobs[job.job_id] = job
            pending_s, duration_s = self.pending_s, self.job_duration_s
        threading.Thread(
            target=self._run_job,
            args=(job, connection, pending_s, duration_s),
            name=f"airbyte-sim-job-{job.job_id}",
            daemon=True,
        ).start()
        return job

    def cancel_job(self, job_id: int) -> SimJob:
        job = self.job(job_id)
        with self._lock:
            if not job.running:
                raise _conflict(f"Job {job_id} is not running: {job.status}")
            job.status = "cancelled"
            job.updated_at = job.ended_at = self.now()
            job.cancel.set()
        self._notify(job)
        return job

    def list_jobs(
        self,
        *,
        connection_id: str | None = None,
        status: str | None = None,
        job_type: str | None = None,
        created_start: datetime | None = None,
        created_end: datetime | None = None,
        ascending: bool = False,
    ) -> list[SimJob]:
        with self._lock:
            jobs = [
                j
                for j in self._jobs.values()
                if (connection_id is None or j.connection_id == connection_id)
                and (status is None or j.status == status)
                and (job_type is None or j.job_type == job_type)
                and (created_start is None or j.created_at >= created_start)
                and (created_end is None or j.created_at <= created_end)
            ]
        return sorted(jobs, key=lambda j: (j.created_at, j.job_id), reverse=not ascending)

    def _set(self, job: SimJob, **changes: Any) -> bool:
        """Apply ``changes`` unless the job was cancelled meanwhile."""
        with self._lock:
            if job.status == "cancelled":
                return False
            for name, value in changes.items():
                setattr(job, name, value)
            job.updated_at = self.now()
            return True

    def _run_job(
        self, job: SimJob, connection: SimConnection, pending_s: float, duration_s: float
    ) -> None:
        if pending_s > 0 and (job.cancel.wait(pending_s) or not self._set(job, status="running")):
            return
        if job.cancel.wait(duration_s):
            return
        if job.hang:
            return  # runs until cancelled
        if job.fail_with is not None:
            if self._set(
                job,
                status="failed",
                failure=job.fail_with,
                failure_origin="source",
                ended_at=self.now(),
            ):
                self._notify(job)
            return
        try:
            rows, size = self._write_rows(job, connection)
        except Exception as exc:  # the destination refused: the job fails with its reason
            reason = f"Destination Postgres: {str(exc).strip().splitlines()[0]}"
            if self._set(
                job,
                status="failed",
                failure=reason,
                failure_origin="destination",
                ended_at=self.now(),
            ):
                self._notify(job)
            return
        if self._set(job, status="succeeded", rows=rows, bytes=size, ended_at=self.now()):
            self._notify(job)

    # data ---------------------------------------------------------------------------------
    def campaigns(self, customer_id: str, currency: str) -> list[Campaign]:
        """The customer's campaigns: ids, names, statuses and performance profile."""
        seed = self.seed
        count = 3 + int(_unit(seed, customer_id, "campaigns") * 3)
        low, high = _CPC[currency]
        out = []
        for k in range(count):
            paused = _unit(seed, customer_id, k, "paused") < 0.2
            out.append(
                Campaign(
                    campaign_id=str(10**10 + int(_unit(seed, customer_id, k, "id") * 9 * 10**10)),
                    name=_CAMPAIGN_NAMES[
                        (k + int(_unit(seed, customer_id, "names") * 8)) % len(_CAMPAIGN_NAMES)
                    ],
                    status="PAUSED" if paused else "ENABLED",
                    daily_impressions=400 + _unit(seed, customer_id, k, "impr") * 4600,
                    ctr=0.008 + _unit(seed, customer_id, k, "ctr") * 0.032,
                    cpc=low + _unit(seed, customer_id, k, "cpc") * (high - low),
                    cvr=0.02 + _unit(seed, customer_id, k, "cvr") * 0.06,
                    paused_days_ago=3 + int(_unit(seed, customer_id, k, "pause") * 10)
                    if paused
                    else None,
                )
            )
        return out

    def sync_window(self, connection_id: str, today: date) -> tuple[date, date]:
        """Days a sync reads: ``initial_days`` the first time, then the lookback window."""
        with self._lock:
            synced_before = any(
                j.connection_id == connection_id and j.status == "succeeded"
                for j in self._jobs.values()
            )
            days = self.lookback_days if synced_before else self.initial_days
        return today - timedelta(days=days - 1), today

    def records(
        self, connection: SimConnection, since: date, until: date, now: datetime
    ) -> Iterator[dict[str, Any]]:
        """Google Ads campaign x day x region records (dotted names, as the source emits)."""
        seed, customer = self.seed, connection.customer_id
        local_now = now.astimezone(JAMAICA)
        today = local_now.date()
        day_share = (local_now.hour * 3600 + local_now.minute * 60 + local_now.second) / 86400
        for campaign in self.campaigns(customer, connection.currency):
            day = since
            while day <= until:
                stop = campaign.paused_days_ago is not None and (
                    day >= today - timedelta(days=campaign.paused_days_ago)
                )
                if not stop:
                    yield from self._day_records(
                        seed, connection, campaign, day, day_share if day == today else 1.0
                    )
                day += timedelta(days=1)

    @staticmethod
    def _day_records(
        seed: int, connection: SimConnection, campaign: Campaign, day: date, share: float
    ) -> Iterator[dict[str, Any]]:
        customer = connection.customer_id
        weekday = 0.8 if day.weekday() >= 5 else 1.0
        targets: list[int | None] = [t for t, _ in PARISH_TARGETS]
        if _unit(seed, customer, campaign.campaign_id, day, "null") < 0.3:
            targets.append(None)
        if _unit(seed, customer, campaign.campaign_id, day, "unknown") < 0.15:
            targets.append(UNKNOWN_TARGET)
        weights = dict(PARISH_TARGETS)
        for target in targets:
            weight = weights.get(target, 0.1) if target is not None else 0.15
            noise = 0.6 + 0.8 * _unit(seed, customer, campaign.campaign_id, day, target, "n")
            impressions = int(campaign.daily_impressions * weight * weekday * noise * share / 4)
            if impressions <= 0:
                continue  # Google Ads reports no row for a segment without impressions
            clicks = int(impressions * campaign.ctr + _unit(seed, day, target, "c"))
            cost_micros = round(clicks * campaign.cpc * 100) * 10_000
            conversions = round(clicks * campaign.cvr * (0.5 + _unit(day, target, "v")), 2)
            # Google Ads' conversions_value: the conversion actions' values (here a basket per
            # conversion, in the customer's currency), a double like conversions.
            basket = 4800 if connection.currency == "JMD" else 32
            spread = 0.8 + 0.4 * _unit(day, target, "w")
            conversions_value = round(conversions * basket * spread, 2)
            yield {
                "customer.id": int(customer),
                "customer.currency_code": connection.currency,
                "campaign.id": int(campaign.campaign_id),
                "campaign.name": campaign.name,
                "campaign.status": campaign.status,
                "segments.date": day.isoformat(),
                "segments.geo_target_region": None
                if target is None
                else f"geoTargetConstants/{target}",
                "metrics.cost_micros": cost_micros,
                "metrics.impressions": impressions,
                "metrics.clicks": clicks,
                "metrics.conversions": conversions,
                "metrics.conversions_value": conversions_value,
            }

    def _write_rows(self, job: SimJob, connection: SimConnection) -> tuple[int, int]:
        """Append the sync's records to the destination in one transaction, as Airbyte does."""
        destination = self.destination(connection.destination_id)
        if not destination.database_url:
            raise RuntimeError("no database configured for this destination")
        now = self.now()
        since, until = self.sync_window(connection.connection_id, now.astimezone(JAMAICA).date())
        rng_seed = f"{self.seed}:{job.job_id}:{connection.connection_id}"
        meta = json.dumps({"changes": [], "sync_id": job.job_id})
        rows = size = 0
        url = make_url(destination.database_url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        with psycopg.connect(dsn, connect_timeout=10) as conn, conn.cursor() as cur:
            columns = ", ".join(RAW_COLUMNS)
            with cur.copy(f"copy {RAW_TABLE} ({columns}) from stdin") as copy:
                for record in self.records(connection, since, until, now):
                    raw_id = uuid.uuid5(uuid.NAMESPACE_OID, f"{rng_seed}:{rows}")
                    copy.write_row(
                        (
                            str(raw_id),
                            now,
                            meta,
                            0,
                            str(record["customer.id"]),
                            record["customer.currency_code"],
                            str(record["campaign.id"]),
                            record["campaign.name"],
                            record["campaign.status"],
                            record["segments.date"],
                            record["segments.geo_target_region"],
                            record["metrics.cost_micros"],
                            record["metrics.impressions"],
                            record["metrics.clicks"],
                            record["metrics.conversions"],
                            record["metrics.conversions_value"],
                        )
                    )
                    rows += 1
                    size += len(json.dumps(record, separators=(",", ":")))
            conn.commit()
        return rows, size

    # webhooks -----------------------------------------------------------------------------
    def notification(self, job: SimJob, base_url: str = "http://localhost:8000") -> dict[str, Any]:
        """Airbyte's job notification: Slack-style ``text``/``blocks`` plus ``data``."""
        connection = self.connection(job.connection_id)
        success = job.status == "succeeded"
        started, finished = job.created_at, job.ended_at or self.now()
        seconds = int((finished - started).total_seconds())
        workspace_url = f"{base_url}/workspaces/{self.workspace_id}"
        verb = "succeeded" if success else "failed"
        text = (
            f"Your connection {connection.name} from Google Ads {connection.customer_id} to "
            f"Warehouse (Postgres) {verb}.\nThis was for job {job.job_id}."
        )
        return {
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            "data": {
                "workspace": {"id": self.workspace_id, "name": "Default Workspace",
                              "url": workspace_url},
                "connection": {"id": connection.connection_id, "name": connection.name,
                               "url": f"{workspace_url}/connections/{connection.connection_id}"},
                "source": {"id": connection.source_id,
                           "name": f"Google Ads {connection.customer_id}",
                           "url": f"{workspace_url}/source/{connection.source_id}"},
                "destination": {"id": connection.destination_id, "name": "Warehouse (Postgres)",
                                "url": f"{workspace_url}/destination/{connection.destination_id}"},
                "jobId": job.job_id,
                "startedAt": _iso(started),
                "finishedAt": _iso(finished),
                "bytesEmitted": job.bytes,
                "bytesCommitted": job.bytes,
                "recordsEmitted": job.rows,
                "recordsCommitted": job.rows,
                "recordsFilteredOut": 0,
                "bytesFilteredOut": 0,
                "errorMessage": job.failure,
                "durationInSeconds": seconds,
                "durationFormatted": f"{seconds // 60} min {seconds % 60} sec"
                if seconds >= 60
                else f"{seconds} sec",
                "bytesEmittedFormatted": f"{job.bytes} B",
                "bytesCommittedFormatted": f"{job.bytes} B",
                "success": success,
            },
        }  # fmt: skip

    def _notify(self, job: SimJob) -> None:
        """Deliver the job's notification from a thread of its own, as Airbyte's workers do."""
        with self._lock:
            url, secret = self.webhook_url, self.webhook_secret
        if url:
            payload = self.notification(job)
            threading.Thread(
                target=self._deliver, args=(job.job_id, url, secret, payload), daemon=True
            ).start()

    def _deliver(self, job_id: int, url: str, secret: str | None, payload: dict[str, Any]) -> None:
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Airbyte-Webhook-Secret"] = secret
        try:
            answer = requests.post(url, json=payload, headers=headers, timeout=10)
            status: int | None = answer.status_code
        except requests.RequestException:
            status = None
        with self._lock:
            self._webhooks.append({"job_id": job_id, "status": status})


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_request(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise _bad_request(f"{name} must be between {low} and {high}")
    return value


def _page(request: Request, items: list[dict[str, Any]], *, default_limit: int) -> dict[str, Any]:
    """Airbyte's offset paging: ``data`` plus absolute ``next``/``previous`` links."""
    params = dict(request.query_params)
    limit = _int_param(params, "limit", default_limit, 1, 100)
    offset = _int_param(params, "offset", 0, 0, 10**9)
    base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"

    def link(new_offset: int) -> str:
        return f"{base}?{urlencode({**params, 'limit': limit, 'offset': new_offset})}"

    body: dict[str, Any] = {"data": items[offset : offset + limit]}
    if offset + limit < len(items):
        body["next"] = link(offset + limit)
    if offset > 0:
        body["previous"] = link(max(0, offset - limit))
    return body


def _workspace_filter(sim: AirbyteSimState, params: Mapping[str, str]) -> None:
    for workspace_id in filter(None, (params.get("workspaceIds") or "").split(",")):
        sim.check_workspace(workspace_id.strip())


def _job_id(raw: Any) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise _bad_request(f"job id must be an integer, got {raw!r}") from None


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _bad_request("The body of the request was not understood") from None
    if not isinstance(body, dict):
        raise _bad_request("The body of the request must be a JSON object")
    return body


def create_app(state: AirbyteSimState | None = None) -> Starlette:
    """The simulator as a Starlette app; ``app.state.sim`` is the :class:`AirbyteSimState`."""
    sim = state or AirbyteSimState()

    def api(handler: Callable[[Request], Any], *, auth: bool = True) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            status = 500
            try:
                if sim.latency_s > 0:
                    await asyncio.sleep(sim.latency_s)
                fault = sim.take_fault(request.url.path)
                if fault is not None:
                    raise Problem(
                        fault.http_status,
                        "service-unavailable" if fault.http_status == 503 else "unexpected-problem",
                        "The server is currently unable to handle the request.",
                        kind="",
                    )
                if auth:
                    sim.check_auth(request.headers.get("authorization"))
                body = await handler(request)
                status = 200
                return JSONResponse(body)
            except Problem as problem:
                status = problem.status
                return problem.response()
            finally:
                sim.log_request(
                    RequestRecord(
                        request.method, request.url.path, dict(request.query_params), status
                    )
                )

        return endpoint

    async def token(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        return sim.issue_token(body.get("client_id"), body.get("client_secret"))

    async def workspace(request: Request) -> dict[str, Any]:
        sim.check_workspace(request.path_params["workspace_id"])
        return {
            "workspaceId": sim.workspace_id,
            "name": "Default Workspace",
            "dataResidency": "auto",
            "notifications": {
                "success": {"webhook": {"url": sim.webhook_url}, "notificationType": ["webhook"]},
                "failure": {"webhook": {"url": sim.webhook_url}, "notificationType": ["webhook"]},
            },
        }

    async def connections(request: Request) -> dict[str, Any]:
        _workspace_filter(sim, request.query_params)
        items = [c.response(sim.workspace_id) for c in sim.connections]
        return _page(request, items, default_limit=20)

    async def connection(request: Request) -> dict[str, Any]:
        return sim.connection(request.path_params["connection_id"]).response(sim.workspace_id)

    async def source(request: Request) -> dict[str, Any]:
        found = sim.source_connection(request.path_params["source_id"])
        return found.source_response(sim.workspace_id)

    async def destination(request: Request) -> dict[str, Any]:
        found = sim.destination(request.path_params["destination_id"])
        return found.response(sim.workspace_id)

    async def jobs(request: Request) -> dict[str, Any]:
        if request.method == "POST":
            body = await _json_body(request)
            connection_id = body.get("connectionId")
            if not isinstance(connection_id, str):
                raise _bad_request("connectionId is required")
            job = sim.start_job(connection_id, str(body.get("jobType", "sync")))
            return job.response(sim.now())
        params = request.query_params
        _workspace_filter(sim, params)
        connection_id = params.get("connectionId")
        if connection_id:
            sim.connection(connection_id)
        order = params.get("orderBy") or "createdAt|DESC"
        if order not in ("createdAt|DESC", "createdAt|ASC", "updatedAt|DESC", "updatedAt|ASC"):
            raise _bad_request("orderBy must be createdAt|ASC, createdAt|DESC or updatedAt|…")
        status = params.get("status")
        if status and status not in (*RUNNING_STATUSES, *TERMINAL_STATUSES):
            raise _bad_request(f"unknown status {status!r}")
        found = sim.list_jobs(
            connection_id=connection_id or None,
            status=status or None,
            job_type=params.get("jobType") or None,
            created_start=_parse_time(params["createdAtStart"], "createdAtStart")
            if params.get("createdAtStart")
            else None,
            created_end=_parse_time(params["createdAtEnd"], "createdAtEnd")
            if params.get("createdAtEnd")
            else None,
            ascending=order.endswith("ASC"),
        )
        now = sim.now()
        return _page(request, [j.response(now) for j in found], default_limit=20)

    async def job(request: Request) -> dict[str, Any]:
        job_id = _job_id(request.path_params["job_id"])
        found = sim.cancel_job(job_id) if request.method == "DELETE" else sim.job(job_id)
        return found.response(sim.now())

    async def connection_get(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        return sim.connection(str(body.get("connectionId"))).read()

    async def job_get(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        return sim.job(_job_id(body.get("id"))).info()

    async def health(request: Request) -> dict[str, Any]:
        return {"available": True}

    # -- control ---------------------------------------------------------------------------
    async def sim_connections(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await request.json()
                added = sim.add_connection(
                    str(body["customer_id"]),
                    currency=body.get("currency"),
                    database_url=body.get("database_url"),
                    name=body.get("name"),
                )
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                return JSONResponse({"detail": f"bad connection: {exc}"}, status_code=400)
            return JSONResponse(
                {**added.response(sim.workspace_id), "customerId": added.customer_id}
            )
        return JSONResponse(
            {
                "data": [
                    {**c.response(sim.workspace_id), "customerId": c.customer_id}
                    for c in sim.connections
                ]
            }
        )

    async def sim_webhooks(request: Request) -> Response:
        return JSONResponse({"deliveries": sim.webhook_deliveries})

    routes = [
        Route("/__sim__/connections", sim_connections, methods=["GET", "POST"]),
        *control_routes(sim, config_errors=(ValueError, TypeError, Problem)),
        Route("/__sim__/webhooks", sim_webhooks, methods=["GET"]),
        Route(f"{PUBLIC}/applications/token", api(token, auth=False), methods=["POST"]),
        Route(f"{PUBLIC}/workspaces/{{workspace_id}}", api(workspace), methods=["GET"]),
        Route(f"{PUBLIC}/connections", api(connections), methods=["GET"]),
        Route(f"{PUBLIC}/connections/{{connection_id}}", api(connection), methods=["GET"]),
        Route(f"{PUBLIC}/sources/{{source_id}}", api(source), methods=["GET"]),
        Route(f"{PUBLIC}/destinations/{{destination_id}}", api(destination), methods=["GET"]),
        Route(f"{PUBLIC}/jobs", api(jobs), methods=["GET", "POST"]),
        Route(f"{PUBLIC}/jobs/{{job_id}}", api(job), methods=["GET", "DELETE"]),
        Route(f"{CONFIG}/connections/get", api(connection_get), methods=["POST"]),
        Route(f"{CONFIG}/jobs/get", api(job_get), methods=["POST"]),
        Route(f"{CONFIG}/health", api(health, auth=False), methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.sim = sim
    return app


# --------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------


class AirbyteSimulator(LoopbackServer):
    """Runs the simulator with uvicorn in a background thread on 127.0.0.1.

    ``port=0`` picks a free port; ``url`` is known once :meth:`start` returned. ``down()`` stops
    listening (clients get connection refused) and ``up()`` listens again on the same port with
    the same state::

        with AirbyteSimulator(AirbyteSimState(database_url=db_url)) as sim:
            connection = sim.state.add_connection("1234567890")
            workspace = AirbyteWorkspace(rest_api_base_url=sim.rest_api_base_url, ...)
    """

    def __init__(self, state: AirbyteSimState | None = None, *, port: int = 0) -> None:
        self.state = state or AirbyteSimState()
        super().__init__(create_app(self.state), port=port, name="Airbyte")

    @property
    def rest_api_base_url(self) -> str:
        return self.url + PUBLIC

    @property
    def configuration_api_base_url(self) -> str:
        return self.url + CONFIG

    def down(self) -> None:
        """Stop answering (connection refused); jobs keep their state."""
        self.stop()

    def up(self) -> AirbyteSimulator:
        """Listen again on the same port."""
        return self.start()


def main(
    host: str = "127.0.0.1", port: int = 8011, database_url: str | None = None, seed: int = 42
) -> None:
    """Serve the simulator in the foreground (``adinsights simulate airbyte``)."""
    uvicorn.run(
        create_app(AirbyteSimState(seed=seed, database_url=database_url)),
        host=host,
        port=port,
        log_level="info",
    )
