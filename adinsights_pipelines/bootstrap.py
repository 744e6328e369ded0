"""Start-up shared by every command: settings, database, migrations, Dagster home."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from adinsights_pipelines.encryption import LocalKeyring, keyring_from_settings
from adinsights_pipelines.instance import prepare_dagster_home
from adinsights_pipelines.settings import Settings, load_settings
from adinsights_pipelines.warehouse import migrate
from adinsights_pipelines.warehouse.database import Database, resolve


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    db: Database

    @cached_property
    def keyring(self) -> LocalKeyring:
        return keyring_from_settings(self.settings, self.db.plain_url)


def bootstrap(progress: Callable[[str], None] = lambda _: None) -> Runtime:
    """Resolve the database (embedded when none is configured), migrate it, prepare Dagster."""
    settings = load_settings()
    if settings.database_url:
        progress("connecting to the configured database")
    else:
        progress(f"starting embedded PostgreSQL in {settings.data_dir / 'pgdata'}")
    db = resolve(settings.database_url, settings.data_dir)
    progress(f"database ready: {db.display}")
    before, head = migrate.upgrade(db)
    progress(
        f"migrations: already at {head}" if before == head else f"migrations: {before} -> {head}"
    )
    prepare_dagster_home(settings, db)
    return Runtime(settings=settings, db=db)
