"""ISO 4217 currency codes, validated against pycountry's copy of the standard."""

from __future__ import annotations

import re

import pycountry

from adinsights_pipelines.errors import AdinsightsError

DEFAULT_REPORTING_CURRENCY = "JMD"
_SHAPE = re.compile(r"^[A-Z]{3}$")


class UnknownCurrency(AdinsightsError):
    pass


def is_currency(code: str) -> bool:
    return bool(_SHAPE.match(code)) and pycountry.currencies.get(alpha_3=code) is not None


def validate_currency(code: str) -> str:
    """``code`` upper-cased when it is an ISO 4217 currency, else a one-line error."""
    normalised = code.strip().upper()
    if not is_currency(normalised):
        raise UnknownCurrency(f"{code!r} is not an ISO 4217 currency code (e.g. JMD, USD, EUR)")
    return normalised


def minor_units(code: str) -> int:
    """Decimal places of the currency's minor unit (JMD and USD: 2; JPY: 0)."""
    return 0 if code in _ZERO_DECIMAL else 3 if code in _THREE_DECIMAL else 2


# ISO 4217's exponents other than 2, for currencies in circulation (pycountry does not carry them).
_ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
