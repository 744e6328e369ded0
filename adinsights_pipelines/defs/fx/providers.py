"""Where daily exchange rates come from: one small interface, two implementations.

- :class:`OpenExchangeRates`: the HTTP API in Open Exchange Rates' shape,
  ``GET <api_url>/historical/YYYY-MM-DD.json?app_id=...&symbols=JMD,EUR`` answering
  ``{"disclaimer", "license", "timestamp", "base": "USD", "rates": {"JMD": 156.899715, ...}}``;
  errors are ``{"error": true, "status", "message", "description"}`` (``not_available`` for a
  day without rates, ``invalid_app_id``, ``not_allowed``, ...).
- :func:`read_rates_csv`: the rates an agency is contractually bound to (e.g. the Bank of
  Jamaica's published rates), imported from a CSV file by an operator.

Every rate is "units of ``quote`` per 1 ``base``" with ``base`` USD, as Open Exchange Rates
publishes them; conversions between two other currencies go through USD.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol

import requests
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from adinsights_pipelines.currencies import UnknownCurrency, validate_currency
from adinsights_pipelines.errors import AdinsightsError

BASE = "USD"


class RatesUnavailable(AdinsightsError):
    """The provider publishes no rates for that day (Open Exchange Rates' ``not_available``)."""


class ProviderError(AdinsightsError):
    """The provider refused or failed (after retries for transient failures)."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class PublishedRates:
    """One day's rates from one source: units of each quote per 1 ``base``."""

    day: date
    rates: dict[str, Decimal]
    source: str
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    base: str = BASE


class RatesProvider(Protocol):
    """What the ``fx_rates_daily`` asset needs from a source of daily rates."""

    #: Written into every row's ``source`` (``openexchangerates``, ``csv:boj-2026.csv`` ...).
    name: str

    def fetch(self, day: date, quotes: Sequence[str]) -> PublishedRates:
        """That day's rates for ``quotes``; :class:`RatesUnavailable` when none is published."""
        ...


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


class OpenExchangeRates:
    """Open Exchange Rates' historical endpoint (or anything serving its shape)."""

    name = "openexchangerates"

    def __init__(
        self,
        api_url: str,
        app_id: str,
        *,
        timeout_s: float = 30.0,
        session: requests.Session | None = None,
        max_attempts: int = 4,
        wait_max_s: float = 30.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._app_id = app_id
        self._timeout_s = timeout_s
        self._session = session or requests.Session()
        self._fetch = retry(
            retry=retry_if_exception(_is_retryable),
            stop=stop_after_attempt(max_attempts),
            wait=wait_exponential_jitter(initial=min(1.0, wait_max_s), max=wait_max_s),
            reraise=True,
        )(self._fetch_once)

    def __repr__(self) -> str:  # the app id is a credential
        return f"OpenExchangeRates(api_url={self.api_url!r})"

    def fetch(self, day: date, quotes: Sequence[str]) -> PublishedRates:
        return self._fetch(day, quotes)

    def _fetch_once(self, day: date, quotes: Sequence[str]) -> PublishedRates:
        url = f"{self.api_url}/historical/{day.isoformat()}.json"
        params = {"app_id": self._app_id, "symbols": ",".join(sorted(set(quotes) - {BASE}))}
        try:
            answer = self._session.get(url, params=params, timeout=self._timeout_s)
        except requests.RequestException as exc:
            # The exception's text holds the URL and so the app id: name the type only.
            raise ProviderError(
                f"exchange rates for {day}: {type(exc).__name__} reaching the provider",
                retryable=True,
            ) from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code != 200 or not isinstance(body, dict) or body.get("error"):
            message = body.get("message") if isinstance(body, dict) else None
            description = body.get("description") if isinstance(body, dict) else None
            if message == "not_available" or (answer.status_code == 404 and message is None):
                raise RatesUnavailable(f"no exchange rates published for {day}")
            raise ProviderError(
                f"exchange rates for {day}: HTTP {answer.status_code} "
                f"{message or 'error'}: {description or answer.reason}",
                status=answer.status_code,
                retryable=(answer.status_code == 429 and message != "not_allowed")
                or answer.status_code >= 500,
            )
        return PublishedRates(day, _parse_rates(body, day, quotes), self.name)


def _parse_rates(body: dict[str, object], day: date, quotes: Sequence[str]) -> dict[str, Decimal]:
    base, rates = body.get("base"), body.get("rates")
    if base != BASE or not isinstance(rates, dict):
        raise ProviderError(f"exchange rates for {day}: expected base {BASE} and a rates object")
    found: dict[str, Decimal] = {}
    for quote in quotes:
        if quote == BASE:
            continue
        value = rates.get(quote)
        if value is None:
            continue  # not published for that currency: left missing, never zero
        try:
            # through str: the JSON number's digits, not a binary float's expansion
            rate = Decimal(str(value))
        except InvalidOperation:
            raise ProviderError(f"exchange rates for {day}: {quote} is not a number") from None
        if not rate.is_finite() or rate <= 0:
            raise ProviderError(f"exchange rates for {day}: {quote} rate {value} is not positive")
        found[quote] = rate
    return found


# --------------------------------------------------------------------------------------------
# CSV import (contractual rates)
# --------------------------------------------------------------------------------------------

CSV_COLUMNS = ("date", "base", "quote", "rate")


def read_rates_csv(path: Path, source: str | None = None) -> list[PublishedRates]:
    """Rates from a CSV with a header ``date,base,quote,rate`` (``YYYY-MM-DD``, base USD).

    Every line is checked before anything is written; a bad line is a one-line error naming its
    number, so an import is all or nothing.
    """
    name = source or f"csv:{path.name}"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise AdinsightsError(f"cannot read {path}: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if not set(CSV_COLUMNS) <= set(header):
        raise AdinsightsError(
            f"{path.name}: the header must name the columns {', '.join(CSV_COLUMNS)}"
        )
    by_day: dict[date, dict[str, Decimal]] = {}
    for number, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        where = f"{path.name} line {number}"
        try:
            day = date.fromisoformat(row["date"])
        except ValueError:
            raise AdinsightsError(f"{where}: {row['date']!r} is not a YYYY-MM-DD date") from None
        try:
            base, quote = validate_currency(row["base"]), validate_currency(row["quote"])
        except UnknownCurrency as exc:
            raise AdinsightsError(f"{where}: {exc}") from None
        if base != BASE:
            raise AdinsightsError(f"{where}: base must be {BASE} (rates are units per 1 {BASE})")
        try:
            rate = Decimal(row["rate"])
        except InvalidOperation:
            raise AdinsightsError(f"{where}: rate {row['rate']!r} is not a number") from None
        if not rate.is_finite() or rate <= 0:
            raise AdinsightsError(f"{where}: rate {row['rate']!r} must be positive")
        if quote in by_day.setdefault(day, {}) and by_day[day][quote] != rate:
            raise AdinsightsError(f"{where}: a second, different {quote} rate for {day}")
        by_day[day][quote] = rate
    if not by_day:
        raise AdinsightsError(f"{path.name}: no rates in the file")
    fetched_at = datetime.now(UTC)
    return [PublishedRates(day, rates, name, fetched_at) for day, rates in sorted(by_day.items())]


def quotes_of(batches: Iterable[PublishedRates]) -> set[str]:
    return {quote for batch in batches for quote in batch.rates}
