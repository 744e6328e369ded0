"""The Graph / Marketing API versions Meta publishes, read from ``graph_versions.toml``.

One table (the TOML file next to this module) holds every known version with its release day
and the days Meta stops answering it; everything else (the default version, the
``meta_api_version`` health card, the alert, the simulator's retired-version answer) reads it
from here.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib import resources

__all__ = [
    "DEFAULT_VERSION",
    "SUNSET_WARNING",
    "GraphVersion",
    "VersionHealth",
    "known_versions",
    "latest_version",
    "version_health",
]

#: The version the product calls by default (settings ``meta_api_version``).
DEFAULT_VERSION = "v26.0"
#: A version this close to its Marketing API sunset turns the health card to ``warning``.
SUNSET_WARNING = timedelta(days=90)


@dataclass(frozen=True)
class GraphVersion:
    version: str
    released: date
    marketing_sunset: date | None
    graph_sunset: date | None

    def retired_for_ads(self, day: date) -> bool:
        """Whether Meta no longer answers ads calls (Marketing API) on this version."""
        return self.marketing_sunset is not None and day >= self.marketing_sunset

    def retired_for_graph(self, day: date) -> bool:
        return self.graph_sunset is not None and day >= self.graph_sunset


def _day(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    raise ValueError(f"graph_versions.toml: not a date: {value!r}")


@lru_cache(maxsize=1)
def known_versions() -> dict[str, GraphVersion]:
    """Every version of the table by name, newest first."""
    text = resources.files(__package__).joinpath("graph_versions.toml").read_text("utf-8")
    rows = tomllib.loads(text)["version"]
    versions = [
        GraphVersion(
            str(row["version"]),
            _day(row["released"]) or date.min,
            _day(row.get("marketing_sunset")),
            _day(row.get("graph_sunset")),
        )
        for row in rows
    ]
    versions.sort(key=lambda v: v.released, reverse=True)
    return {v.version: v for v in versions}


def latest_version(day: date) -> str:
    """The newest version Meta had released on ``day``."""
    for version in known_versions().values():
        if version.released <= day:
            return version.version
    raise LookupError(f"no Graph API version released by {day}")


@dataclass(frozen=True)
class VersionHealth:
    """The ``meta_api_version`` card: ``ok``, ``warning`` (sunset within 90 days) or ``error``."""

    version: str
    status: str
    detail: str
    sunset: date | None
    days_left: int | None
    latest: str


def version_health(version: str, now: datetime) -> VersionHealth:
    """How the configured ``version`` stands on ``now`` against the table's sunset dates."""
    today = now.astimezone(UTC).date()
    latest = latest_version(today)
    known = known_versions().get(version)
    if known is None:
        return VersionHealth(
            version,
            "warning",
            f"{version} is not in the known-versions table (graph_versions.toml); "
            f"Meta's newest is {latest}",
            None,
            None,
            latest,
        )
    sunset = known.marketing_sunset
    if sunset is None:
        return VersionHealth(
            version,
            "ok",
            f"{version}: Meta has not announced its sunset yet (newest: {latest})",
            None,
            None,
            latest,
        )
    days_left = (sunset - today).days
    if days_left <= 0:
        status, detail = "error", f"{version} was retired on {sunset}: ads calls fail (#2635)"
    elif days_left <= SUNSET_WARNING.days:
        status, detail = "warning", f"{version} is retired on {sunset}, in {days_left} days"
    else:
        status, detail = "ok", f"{version} is served until {sunset} ({days_left} days)"
    if status != "ok":
        detail += f"; move to {latest} (docs/operations.md, 'Moving to the next Graph API version')"
    return VersionHealth(version, status, detail, sunset, days_left, latest)
