"""The query-parameter rules as the contract states them: cursors, ``limit``, dates, text, flags.

Each helper is called with a real Starlette request built from a query string; a refusal is a
:class:`Problem` 400 whose detail names the parameter. Expected values are written out here,
never derived from the code under test.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from api import params
from api.pagination import (
    MAX_CURSOR_LENGTH,
    KeysetCursor,
    decode_cursor,
    encode_cursor,
    parse_limit,
)
from api.problems import Problem


def request(query: dict[str, str] | str = "") -> Request:
    raw = query if isinstance(query, str) else urlencode(query)
    return Request({"type": "http", "query_string": raw.encode(), "headers": []})


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    """The detail of the 400 problem ``call`` raises."""
    with pytest.raises(Problem) as raised:
        call(*args, **kwargs)
    assert raised.value.status_code == 400
    assert raised.value.kind == "bad-request"
    return str(raised.value.detail)


# --- cursors ---------------------------------------------------------------------------------


def keyset(raw: str) -> list[str]:
    """The sort-key values a keyset listing's cursor carries (api/pagination.py)."""
    return decode_cursor(raw, KeysetCursor).after


def test_a_cursor_is_compact_sorted_json_in_unpadded_urlsafe_base64() -> None:
    # {"a":1,"b":"x"} -> base64 "eyJhIjoxLCJiIjoieCJ9" (no padding needed)
    assert encode_cursor({"b": "x", "a": 1}) == "eyJhIjoxLCJiIjoieCJ9"
    # {"after":"?>"}: 15 bytes -> 20 characters, the "=" padding dropped; "?>" gives "_" and "-"
    assert encode_cursor({"after": "??>"}) == "eyJhZnRlciI6Ij8_PiJ9"
    assert encode_cursor({"at": date(2026, 5, 1)}) == "eyJhdCI6IjIwMjYtMDUtMDEifQ"
    # {"after":["a"]}: 15 bytes -> 20 characters
    assert encode_cursor({"after": ["a"]}) == "eyJhZnRlciI6WyJhIl19"
    assert keyset("eyJhZnRlciI6WyJhIl19") == ["a"]


def test_a_cursor_whose_padding_was_dropped_decodes() -> None:
    # {"after":["ab"]} is 16 bytes: "eyJhZnRlciI6WyJhYiJdfQ==" without its two "=";
    # {"after":["abc"]} is 17 bytes: "eyJhZnRlciI6WyJhYmMiXX0=" without its one "="
    assert keyset("eyJhZnRlciI6WyJhYiJdfQ") == ["ab"]
    assert keyset("eyJhZnRlciI6WyJhYmMiXX0") == ["abc"]


@pytest.mark.parametrize(
    "raw",
    [
        "",  # empty
        "%%%",  # not base64 at all
        "eyJhZnRl ciI6WyJhIl19",  # an issued cursor ({"after":["a"]}) with a space inside
        "eyJh....ZnRlciI6WyJhIl19",  # the same with dots, which lenient base64 would skip
        "WzEsMl0",  # [1,2]: JSON, but not an object
        "Im9rIg",  # "ok": a JSON string
        "bnVsbA",  # null
        "eyJh",  # {"a: truncated JSON
        "_w",  # one byte 0xff: not UTF-8
        "é" * 8,  # not ASCII
        "eyJhIjoxLCJiIjoieCJ9",  # {"a":1,"b":"x"}: an object, but not what a listing issues
    ],
)
def test_anything_but_an_issued_cursor_is_an_invalid_cursor(raw: str) -> None:
    assert refused(keyset, raw) == "cursor is not valid"


def test_the_cursor_length_limit_is_1024_characters() -> None:
    assert MAX_CURSOR_LENGTH == 1024
    # {"after":[...]}: 10 + 2 bytes around 4 quoted values and 3 commas; values of 185, 185,
    # 185 and 190 characters make 768 bytes, which encode to exactly 1024 characters
    values = ["x" * 185, "y" * 185, "z" * 185, "w" * 190]
    at_limit = encode_cursor({"after": values})
    assert len(at_limit) == 1024 and "=" not in at_limit
    assert keyset(at_limit) == values
    over = encode_cursor({"after": [*values[:3], "w" * 193]})  # 771 bytes
    assert len(over) == 1028
    assert refused(keyset, over) == "cursor is not valid"
    assert refused(keyset, at_limit + "A") == "cursor is not valid"


_key_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20
)


@given(st.lists(_key_text, max_size=8))
def test_every_cursor_decodes_to_the_values_it_encoded(values: list[str]) -> None:
    cursor = encode_cursor({"after": values})
    assert re.fullmatch(r"[A-Za-z0-9_-]*", cursor)
    if len(cursor) <= 1024:
        assert keyset(cursor) == values


@given(st.text(max_size=40))
def test_any_string_is_a_cursor_or_a_400(raw: str) -> None:
    try:
        values = keyset(raw)
    except Problem as problem:
        assert problem.status_code == 400
    else:
        assert isinstance(values, list)


# --- limit -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [({}, 50), ({"limit": "1"}, 1), ({"limit": "500"}, 500), ({"limit": "007"}, 7)],
)
def test_limit_from_1_to_500_defaulting_to_50(query: dict[str, str], expected: int) -> None:
    assert parse_limit(request(query)) == expected


@pytest.mark.parametrize(
    "raw", ["0", "501", "", "-1", "+5", " 5", "5 ", "1e2", "12x", "٣", "1234567890", "99999999"]
)
def test_limits_outside_1_to_500_are_refused_with_the_range(raw: str) -> None:
    detail = refused(parse_limit, request({"limit": raw}))
    assert detail == "limit must be an integer from 1 to 500"


def test_an_endpoint_may_set_its_own_default_and_maximum() -> None:
    assert parse_limit(request(), default=100) == 100
    assert parse_limit(request({"limit": "1000"}), maximum=1000) == 1000
    detail = refused(parse_limit, request({"limit": "1001"}), maximum=1000)
    assert detail == "limit must be an integer from 1 to 1000"


@given(st.integers(min_value=-10, max_value=10**10))
def test_limit_property(n: int) -> None:
    if 1 <= n <= 500:
        assert parse_limit(request({"limit": str(n)})) == n
    else:
        assert refused(parse_limit, request({"limit": str(n)})).startswith("limit must be")


# --- text, choices, flags ------------------------------------------------------------------


def test_text_is_absent_when_missing_or_empty_and_bounded_in_length() -> None:
    assert params.text(request(), "parish") is None
    assert params.text(request({"parish": ""}), "parish") is None
    assert params.text(request({"parish": "x" * 100}), "parish") == "x" * 100
    assert refused(params.text, request({"parish": "x" * 101}), "parish") == (
        "parish is too long (at most 100 characters)"
    )
    assert params.text(request({"parish": "x" * 64}), "parish", max_length=64) == "x" * 64
    assert refused(params.text, request({"parish": "x" * 65}), "parish", max_length=64) == (
        "parish is too long (at most 64 characters)"
    )


@pytest.mark.parametrize("char", ["\x00", "\x1f", "\x7f", "\n", "\t"])
def test_control_characters_are_refused(char: str) -> None:
    detail = refused(params.clean_text, "parish", f"King{char}ston", 64)
    assert detail == "parish contains control characters"


@pytest.mark.parametrize("value", ["Kingston", "St. Ann's Bay", "Montego Bay ~ é ü", " ", "\x80"])
def test_printable_text_is_kept_as_given(value: str) -> None:
    assert params.clean_text("parish", value, 64) == value


def test_matching_and_required() -> None:
    pattern = re.compile(r"act_[0-9]+")
    what = "a Meta ad account id (act_<digits>)"
    assert params.matching(request(), "account_id", pattern, what) is None
    assert params.matching(request({"account_id": "act_12"}), "account_id", pattern, what) == (
        "act_12"
    )
    # the whole value must match, not a prefix
    for bad in ("act_12x", "xact_12", "", "act_"):
        assert refused(
            params.matching, request({"account_id": bad}), "account_id", pattern, what
        ) == ("account_id must be a Meta ad account id (act_<digits>)")
    assert refused(params.required, request(), "account_id", pattern, what) == (
        "account_id is required"
    )
    assert refused(params.required, request({"account_id": ""}), "account_id", pattern, what) == (
        "account_id is required"
    )
    assert params.required(request({"account_id": "act_7"}), "account_id", pattern, what) == "act_7"
    assert refused(params.required, request({"account_id": "7"}), "account_id", pattern, what) == (
        "account_id must be a Meta ad account id (act_<digits>)"
    )


def test_choice_defaults_and_refuses_with_the_options() -> None:
    options = ("final", "all")
    assert params.choice(request(), "data_state", options, "all") == "all"
    assert params.choice(request({"data_state": "final"}), "data_state", options, "all") == "final"
    assert refused(
        params.choice, request({"data_state": "FINAL"}), "data_state", options, "all"
    ) == ("data_state must be one of: final, all")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("false", False), ("False", False), ("0", False)],
)
def test_boolean_values(raw: str, expected: bool) -> None:
    assert params.boolean(request({"cache": raw}), "cache", default=not expected) is expected


def test_boolean_default_and_refusal() -> None:
    assert params.boolean(request(), "cache", default=True) is True
    assert params.boolean(request(), "cache", default=False) is False
    for raw in ("yes", "", "2", "tru"):
        assert refused(params.boolean, request({"cache": raw}), "cache", True) == (
            "cache must be true or false"
        )


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "20260501",
        "2026-W18",
        "2026-5-1",
        "2026-05-01T00:00",
        "2026-13-01",
        "2026-02-30",
        "0000-01-01",
        "2026-05-01\n",
        "",
    ],
)
def test_dates_are_yyyy_mm_dd_and_real(raw: str) -> None:
    assert refused(params.parse_date, "since", raw) == "since must be a date (YYYY-MM-DD)"


def test_a_real_date_parses() -> None:
    assert params.parse_date("since", "2024-02-29") == date(2024, 2, 29)
    assert params.iso_date(request({"since": "2026-05-01"}), "since") == date(2026, 5, 1)
    assert params.iso_date(request(), "since") is None
    assert refused(params.iso_date, request({"until": "2026-5-1"}), "until") == (
        "until must be a date (YYYY-MM-DD)"
    )


def test_date_range_order_and_span() -> None:
    both = request({"start_date": "2026-05-01", "end_date": "2026-05-01"})
    assert params.date_range(both, "start_date", "end_date") == (date(2026, 5, 1), date(2026, 5, 1))
    only_end = request({"end_date": "2026-05-01"})
    assert params.date_range(only_end, "start_date", "end_date") == (None, date(2026, 5, 1))
    reversed_ = request({"start_date": "2026-05-02", "end_date": "2026-05-01"})
    assert refused(params.date_range, reversed_, "start_date", "end_date") == (
        "start_date is after end_date"
    )
    # max_days=3: three days (1st..3rd) are fine, four are not
    three = request({"since": "2026-05-01", "until": "2026-05-03"})
    assert params.date_range(three, "since", "until", 3) == (date(2026, 5, 1), date(2026, 5, 3))
    four = request({"since": "2026-05-01", "until": "2026-05-04"})
    assert refused(params.date_range, four, "since", "until", 3) == (
        "since..until spans more than 3 days"
    )


TODAY = date(2026, 5, 20)


@pytest.fixture
def frozen_today() -> Any:
    with time_machine.travel("2026-05-20 12:00:00+00:00", tick=False):
        yield


@pytest.mark.usefixtures("frozen_today")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, (date(2026, 4, 23), TODAY)),  # 28 days ending today
        ({"until": "2026-05-10"}, (date(2026, 4, 13), date(2026, 5, 10))),
        ({"since": "2026-05-01"}, (date(2026, 5, 1), TODAY)),
        ({"since": "2026-06-01"}, (date(2026, 6, 1), date(2026, 6, 1))),  # since after today
        ({"since": "2026-05-01", "until": "2026-05-02"}, (date(2026, 5, 1), date(2026, 5, 2))),
    ],
)
def test_day_window_defaults(query: dict[str, str], expected: tuple[date, date]) -> None:
    assert params.day_window(request(query)) == expected


@pytest.mark.usefixtures("frozen_today")
def test_day_window_bounds() -> None:
    assert params.day_window(request(), default_days=1) == (TODAY, TODAY)
    assert params.day_window(request(), default_days=7, max_days=7) == (date(2026, 5, 14), TODAY)
    # since only, 400 days back: until defaults to today, which makes 401 days
    far = request({"since": "2025-04-15"})
    assert refused(params.day_window, far, max_days=400) == "since..until spans more than 400 days"
    assert refused(params.day_window, far) == "since..until spans more than 400 days"  # default
    assert params.day_window(request({"since": "2025-04-16"}), max_days=400) == (
        date(2025, 4, 16),
        TODAY,
    )
    explicit = request({"since": "2026-01-01", "until": "2026-01-10"})
    assert refused(params.day_window, explicit, max_days=9) == "since..until spans more than 9 days"
    assert params.day_window(explicit, max_days=10) == (date(2026, 1, 1), date(2026, 1, 10))


def test_day_window_near_the_first_date_stops_at_it() -> None:
    window = params.day_window(request({"until": "0001-01-05"}))
    assert window == (date(1, 1, 1), date(1, 1, 5))
    assert window[1] - window[0] == timedelta(days=4)
