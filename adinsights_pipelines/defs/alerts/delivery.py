"""Delivering alerts to Slack (incoming webhook) and email (SMTP), with bounded retries.

A channel either delivers an alert or raises :class:`DeliveryFailed` after its retries; the
caller marks an alert as sent only when its channel delivered it, so a failed alert is tried
again on the next evaluation. Error messages carry the exception type and HTTP status only:
webhook URLs and SMTP passwords are credentials and never reach a log line.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import requests
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from adinsights_pipelines.defs.alerts.messages import email_message, slack_payload
from adinsights_pipelines.defs.alerts.rules import Alert
from adinsights_pipelines.logs import register_secret

if TYPE_CHECKING:
    from adinsights_pipelines.settings import Settings

log = logging.getLogger("adinsights.alerts")

ATTEMPTS = 3
TIMEOUT_SECONDS = 10.0


class DeliveryFailed(Exception):
    """A channel could not deliver after its retries; the message names no secret."""


class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


class _Transient(Exception):
    pass


def _retrying(wait_seconds: float) -> Retrying:
    return Retrying(
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential(multiplier=wait_seconds, max=wait_seconds * 8),
        retry=retry_if_exception_type(_Transient),
        reraise=False,
    )


def _deliver_with_retries(name: str, attempt: Callable[[], None], wait_seconds: float) -> None:
    try:
        for try_ in _retrying(wait_seconds):
            with try_:
                attempt()
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        raise DeliveryFailed(f"{name}: {cause} after {ATTEMPTS} attempts") from None
    except _Fatal as exc:
        raise DeliveryFailed(f"{name}: {exc}") from None


class _Fatal(Exception):
    pass


@dataclass
class SlackChannel:
    """POSTs ``slack_payload`` to an incoming-webhook URL."""

    webhook_url: str = field(repr=False)
    timeout: float = TIMEOUT_SECONDS
    retry_wait_seconds: float = 0.5
    name: str = "slack"

    def __post_init__(self) -> None:
        register_secret(self.webhook_url)

    def send(self, alert: Alert) -> None:
        def attempt() -> None:
            try:
                response = requests.post(
                    self.webhook_url, json=slack_payload(alert), timeout=self.timeout
                )
            except requests.RequestException as exc:
                # The exception text contains the URL (the credential): keep the type only.
                raise _Transient(type(exc).__name__) from None
            if response.status_code == 429 or response.status_code >= 500:
                raise _Transient(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                raise _Fatal(f"HTTP {response.status_code} (check the webhook URL)")

        _deliver_with_retries(self.name, attempt, self.retry_wait_seconds)


@dataclass
class EmailChannel:
    """Sends ``email_message`` through an SMTP relay (optional STARTTLS and login)."""

    host: str
    port: int
    sender: str
    recipients: list[str]
    starttls: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = TIMEOUT_SECONDS
    retry_wait_seconds: float = 0.5
    name: str = "email"

    def __post_init__(self) -> None:
        register_secret(self.password)

    def send(self, alert: Alert) -> None:
        message = email_message(alert, self.sender, self.recipients)

        def attempt() -> None:
            try:
                with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                    if self.starttls:
                        smtp.starttls(context=ssl.create_default_context())
                    if self.username and self.password:
                        smtp.login(self.username, self.password)
                    smtp.send_message(message)
            except smtplib.SMTPAuthenticationError as exc:
                raise _Fatal(f"SMTP authentication refused ({exc.smtp_code})") from None
            except smtplib.SMTPRecipientsRefused:
                raise _Fatal("SMTP refused every recipient") from None
            except (OSError, smtplib.SMTPException) as exc:
                raise _Transient(type(exc).__name__) from None

        _deliver_with_retries(self.name, attempt, self.retry_wait_seconds)


@dataclass
class DeliveryReport:
    delivered: dict[str, list[str]] = field(default_factory=dict)  # channel -> subjects
    failed: dict[str, str] = field(default_factory=dict)  # channel -> reason
    deferred: dict[str, int] = field(default_factory=dict)  # channel -> alerts left for later


def deliver(channel: Channel, alerts: list[Alert], report: DeliveryReport) -> list[str]:
    """Send ``alerts`` in order; returns the subjects delivered.

    After one alert fails all its retries the channel is treated as down for this evaluation:
    the rest wait for the next one (a dead relay must not stall the sensor past its timeout).
    """
    sent: list[str] = []
    for position, alert in enumerate(alerts):
        try:
            channel.send(alert)
        except DeliveryFailed as exc:
            log.warning(
                "alert delivery failed; will retry next evaluation",
                extra={"channel": channel.name, "reason": str(exc), "subject": alert.subject},
            )
            report.failed[channel.name] = str(exc)
            report.deferred[channel.name] = len(alerts) - position
            break
        sent.append(alert.subject)
    report.delivered[channel.name] = sent
    return sent


def slack_from_settings(settings: Settings) -> SlackChannel | None:
    """The Slack channel ``ADINSIGHTS_ALERT_SLACK_WEBHOOK_URL`` configures, if it is set."""
    url = settings.alert_slack_webhook_url
    return SlackChannel(url.get_secret_value()) if url else None


def email_from_settings(settings: Settings) -> EmailChannel | None:
    """The email channel the ``ADINSIGHTS_ALERT_SMTP_*`` settings configure, if a relay and
    recipients are set."""
    if not (settings.alert_smtp_host and settings.alert_email_recipients):
        return None
    password = settings.alert_smtp_password
    return EmailChannel(
        host=settings.alert_smtp_host,
        port=settings.alert_smtp_port,
        sender=settings.alert_email_from,
        recipients=settings.alert_email_recipients,
        starttls=settings.alert_smtp_starttls,
        username=settings.alert_smtp_username,
        password=password.get_secret_value() if password else None,
    )
