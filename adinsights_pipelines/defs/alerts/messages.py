"""Alert messages, readable at a glance: Slack (``text`` + ``blocks``) and email. Pure."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from adinsights_pipelines.defs.alerts.rules import Alert
from adinsights_pipelines.defs.freshness_policies import State

_ICON = {
    State.FAIL: ":red_circle:",
    State.WARN: ":large_yellow_circle:",
    State.PASS: ":white_check_mark:",
}


def headline(alert: Alert) -> str:
    """``[FAIL] metrics snapshot stale for acme-jamaica`` / ``[RESOLVED] …``."""
    label = "RESOLVED" if alert.resolved else alert.observation.state.value
    return f"[{label}] {alert.observation.summary}"


def fields(alert: Alert) -> list[tuple[str, str]]:
    """The facts an on-call engineer reads first, in a fixed order."""
    obs = alert.observation
    rows = [
        ("Tenant", obs.tenant_id or "all tenants"),
        ("Asset", obs.target or "-"),
        ("State", f"{alert.previous.value} -> {obs.state.value}"),
        ("Age", _age(obs.age_minutes)),
        ("Threshold", obs.threshold or "-"),
    ]
    if obs.detail:
        rows.append(("Detail", obs.detail))
    if obs.link:
        rows.append(("Link", obs.link))
    return rows


def _age(minutes: float | None) -> str:
    if minutes is None:
        return "-"
    whole = round(minutes)
    if whole < 60:
        return f"{whole} min"
    hours, rest = divmod(whole, 60)
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    return f"{hours} h {rest:02d} min"


def action_line(alert: Alert) -> str:
    if alert.resolved:
        return (
            "Resolved: no action needed; note the recovery in the incident ticket if one is open."
        )
    return alert.observation.action


def plain_text(alert: Alert) -> str:
    lines = [headline(alert), ""]
    lines += [f"{name + ':':<11} {value}" for name, value in fields(alert)]
    lines += ["", f"Runbook action: {action_line(alert)}", "", f"Alert id: {alert.subject}"]
    return "\n".join(lines)


def slack_payload(alert: Alert) -> dict[str, Any]:
    """An incoming-webhook body: ``text`` is the notification line, ``blocks`` the card."""
    state = State.PASS if alert.resolved else alert.observation.state
    title = f"{_ICON.get(state, '')} {headline(alert)}".strip()
    return {
        "text": title,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{name}*\n{value}"}
                    for name, value in fields(alert)[:10]
                ],
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"*Runbook:* {action_line(alert)}"},
                    {"type": "mrkdwn", "text": f"alert id `{alert.subject}`"},
                ],
            },
        ],
    }


def email_message(alert: Alert, sender: str, recipients: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"ADinsights alert: {headline(alert)}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["X-Adinsights-Alert"] = alert.subject
    message.set_content(plain_text(alert))
    return message
