"""The data contracts as Dagster asset checks on the marts they guard."""

from collections.abc import Sequence

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from adinsights_pipelines.defs.contracts.rules import (
    Contract,
    contracts,
    evaluate,
    violations_table,
)
from adinsights_pipelines.defs.resources import WarehouseResource

# The tenants a failed check is about: the snapshot guard then blocks only their snapshots.
from adinsights_pipelines.defs.snapshots.guard import TENANT_IDS_METADATA
from adinsights_pipelines.settings import load_settings


def contract_check(
    name: str, asset: str, description: str, blocking: bool
) -> AssetChecksDefinition:
    @asset_check(
        asset=AssetKey(asset),
        name=name,
        description=description,
        blocking=blocking,
    )
    def _check(
        context: AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> AssetCheckResult:
        # The window is read when the check runs (settings are never read at import time).
        contract = next(
            c for c in contracts(days=load_settings().contracts_window_days) if c.name == name
        )
        with warehouse.engine().connect() as conn:
            violations = evaluate(conn, contract)
        tenants = sorted({v.tenant_id for v in violations if v.tenant_id})
        if violations:
            context.log.warning("%s: %d violations", name, len(violations))
        return AssetCheckResult(
            passed=not violations,
            severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
            metadata={
                "violations": len(violations),
                TENANT_IDS_METADATA: MetadataValue.json(tenants),
                "window_days": contract.params.get("days", 0),
                "sample": MetadataValue.md(
                    f"```\n{violations_table(violations, limit=20)}\n```"
                    if violations
                    else "no violations"
                ),
            },
        )

    return _check


def contract_checks(rules: Sequence[Contract] | None = None) -> list[AssetChecksDefinition]:
    return [
        contract_check(c.name, c.asset, c.description, c.blocking) for c in rules or contracts()
    ]
