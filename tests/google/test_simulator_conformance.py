"""The Google simulator read by Google's own clients, and nothing of ours.

GA4 goes through ``google-analytics-data`` (``BetaAnalyticsDataClient`` over its REST transport,
which sends enums as numbers and int64 as strings); Search Console through
``google-api-python-client`` (``searchconsole`` v1 from its static discovery document). Both
authenticate with ``google-auth`` credentials refreshed against the simulator's token endpoint.
Errors must reach the clients' own exception types with Google's JSON error body.
"""

from datetime import UTC, datetime
from typing import Any

import google.api_core.exceptions as gexc
import pytest
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.analytics.data_v1beta.types import (
    DateRange,
    Dimension,
    Filter,
    FilterExpression,
    FilterExpressionList,
    Metric,
    MetricAggregation,
    NumericValue,
    OrderBy,
    RunReportRequest,
    RunReportResponse,
)
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest
from googleapiclient.model import JsonModel

from adinsights_pipelines.simulators.google import GoogleSimulator

PROPERTY = "properties/555"
SITE = "https://www.blue-mountain.jm/"
#: 10:00 in Kingston: every day below is fully processed.
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
WEEK = DateRange(start_date="2026-11-08", end_date="2026-11-14")
SAINTS = {
    "Saint Andrew Parish",
    "Saint Ann Parish",
    "Saint Catherine Parish",
    "Saint Elizabeth Parish",
    "Saint James Parish",
    "Saint Mary Parish",
    "Saint Thomas Parish",
}
ALL_REGIONS = SAINTS | {
    "Kingston Parish",
    "Manchester Parish",
    "Clarendon Parish",
    "Westmoreland Parish",
    "Trelawny Parish",
    "Portland Parish",
    "Hanover Parish",
    "(not set)",
}
StringMatch = Filter.StringFilter.MatchType
Operation = Filter.NumericFilter.Operation


@pytest.fixture
def sim(sim: GoogleSimulator) -> GoogleSimulator:
    """The package's reset simulator, its clock at ``NOW``."""
    sim.state.set_now(NOW)
    return sim


def credentials(sim: GoogleSimulator, refresh_token: str = "sim_conformance") -> Credentials:
    return Credentials(
        token=None,
        refresh_token=refresh_token,
        token_uri=sim.token_url,
        client_id="conformance-client",
        client_secret="conformance-secret",
    )


def ga4_client(sim: GoogleSimulator, refresh_token: str = "sim_conformance") -> Any:
    return BetaAnalyticsDataClient(
        credentials=credentials(sim, refresh_token),
        transport="rest",
        client_options={"api_endpoint": sim.url},
    )


@pytest.fixture
def ga4(sim: GoogleSimulator) -> Any:
    return ga4_client(sim)


@pytest.fixture
def gsc(sim: GoogleSimulator) -> Any:
    return build(
        "searchconsole",
        "v1",
        credentials=credentials(sim),
        static_discovery=True,
        client_options={"api_endpoint": sim.url},
    )


def report(ga4: Any, **fields: Any) -> RunReportResponse:
    fields.setdefault("date_ranges", [WEEK])
    fields.setdefault("metrics", [Metric(name="sessions")])
    return ga4.run_report(RunReportRequest(property=PROPERTY, **fields))


def dims(*names: str) -> list[Dimension]:
    return [Dimension(name=n) for n in names]


def table(response: RunReportResponse) -> list[tuple[tuple[str, ...], tuple[int, ...]]]:
    return [
        (
            tuple(v.value for v in row.dimension_values),
            tuple(int(v.value) for v in row.metric_values),
        )
        for row in response.rows
    ]


def string_filter(field: str, value: str, match: Any = None, **kw: Any) -> FilterExpression:
    spec = Filter.StringFilter(value=value, **kw)
    if match is not None:
        spec.match_type = match
    return FilterExpression(filter=Filter(field_name=field, string_filter=spec))


def numeric_filter(field: str, operation: Any, value: int) -> FilterExpression:
    spec = Filter.NumericFilter(operation=operation, value=NumericValue(int64_value=value))
    return FilterExpression(filter=Filter(field_name=field, numeric_filter=spec))


def in_list(field: str, *values: str) -> FilterExpression:
    return FilterExpression(
        filter=Filter(field_name=field, in_list_filter=Filter.InListFilter(values=list(values)))
    )


def column(response: RunReportResponse, index: int = 0) -> set[str]:
    return {row.dimension_values[index].value for row in response.rows}


# --------------------------------------------------------------------------------------------
# GA4 runReport
# --------------------------------------------------------------------------------------------


def test_run_report_answers_headers_rows_row_count_and_quota(ga4: Any) -> None:
    answer = report(
        ga4,
        dimensions=dims("date", "region"),
        metrics=[Metric(name="sessions"), Metric(name="totalUsers")],
        return_property_quota=True,
    )
    assert [h.name for h in answer.dimension_headers] == ["date", "region"]
    assert [h.name for h in answer.metric_headers] == ["sessions", "totalUsers"]
    assert answer.metric_headers[0].type_.name == "TYPE_INTEGER"
    rows = table(answer)
    assert answer.row_count == len(rows) > 7
    assert {d for (d, _), _ in rows} == {f"202611{day:02d}" for day in range(8, 15)}
    assert {r for (_, r), _ in rows} == ALL_REGIONS
    assert all(users <= sessions for _, (sessions, users) in rows)
    assert answer.metadata.time_zone == "America/Jamaica"
    assert answer.property_quota.tokens_per_day.consumed >= 1
    assert answer.kind == "analyticsData#runReport"


def test_string_filters_match_as_documented(ga4: Any) -> None:
    by_region = dict(table(report(ga4, dimensions=dims("region"))))

    exact = report(
        ga4, dimensions=dims("region"), dimension_filter=string_filter("region", "kingston parish")
    )  # EXACT by default, case-insensitive by default
    assert table(exact) == [(("Kingston Parish",), by_region[("Kingston Parish",)])]
    sensitive = report(
        ga4,
        dimensions=dims("region"),
        dimension_filter=string_filter("region", "kingston parish", case_sensitive=True),
    )
    assert list(sensitive.rows) == [] and sensitive.row_count == 0

    saints = report(
        ga4,
        dimensions=dims("region"),
        dimension_filter=string_filter("region", "Saint", StringMatch.BEGINS_WITH),
    )
    assert column(saints) == SAINTS
    assert dict(table(saints)) == {k: v for k, v in by_region.items() if k[0] in SAINTS}

    ending = report(
        ga4,
        dimensions=dims("region"),
        dimension_filter=string_filter("region", "land Parish", StringMatch.ENDS_WITH),
    )
    assert column(ending) == {"Westmoreland Parish", "Portland Parish"}
    containing = report(
        ga4,
        dimensions=dims("region"),
        dimension_filter=string_filter("region", "AN", StringMatch.CONTAINS),
    )
    assert column(containing) == {
        "Saint Andrew Parish", "Saint Ann Parish", "Manchester Parish",
        "Westmoreland Parish", "Portland Parish", "Hanover Parish",
    }  # fmt: skip
    full = report(
        ga4,
        dimensions=dims("region"),
        dimension_filter=string_filter(
            "region", "Saint (Ann|Mary) Parish", StringMatch.FULL_REGEXP
        ),
    )
    assert column(full) == {"Saint Ann Parish", "Saint Mary Parish"}
    partial = report(
        ga4,
        dimensions=dims("region"),
        dimension_filter=string_filter("region", "^(Ha|Tr)", StringMatch.PARTIAL_REGEXP),
    )
    assert column(partial) == {"Hanover Parish", "Trelawny Parish"}


def test_in_list_and_numeric_filters_and_filters_on_unrequested_dimensions(ga4: Any) -> None:
    by_region = dict(table(report(ga4, dimensions=dims("region"))))
    two = report(
        ga4,
        dimensions=dims("region"),
        dimension_filter=in_list("region", "Kingston Parish", "Saint James Parish"),
    )
    assert dict(table(two)) == {
        ("Kingston Parish",): by_region[("Kingston Parish",)],
        ("Saint James Parish",): by_region[("Saint James Parish",)],
    }

    late = report(
        ga4,
        dimensions=dims("date"),
        dimension_filter=numeric_filter("date", Operation.GREATER_THAN_OR_EQUAL, 20261112),
    )
    assert column(late) == {"20261112", "20261113", "20261114"}
    between = report(
        ga4,
        dimensions=dims("date"),
        dimension_filter=FilterExpression(
            filter=Filter(
                field_name="date",
                between_filter=Filter.BetweenFilter(
                    from_value=NumericValue(int64_value=20261109),
                    to_value=NumericValue(int64_value=20261110),
                ),
            )
        ),
    )
    assert column(between) == {"20261109", "20261110"}

    # A filter on a dimension the report does not show narrows the rows before aggregation.
    direct_by_region = report(
        ga4,
        dimensions=dims("region"),
        dimension_filter=string_filter("sessionDefaultChannelGroup", "Direct"),
    )
    split = report(
        ga4,
        dimensions=dims("region", "sessionDefaultChannelGroup"),
        dimension_filter=string_filter("sessionDefaultChannelGroup", "Direct"),
    )
    assert column(split, 1) == {"Direct"}
    assert dict(table(direct_by_region)) == {(r,): m for (r, _), m in table(split)}
    assert all(m < by_region[k] for k, m in table(direct_by_region))


def test_and_or_not_groups_combine_filters(ga4: Any) -> None:
    both = report(
        ga4,
        dimensions=dims("region", "sessionDefaultChannelGroup"),
        dimension_filter=FilterExpression(
            and_group=FilterExpressionList(
                expressions=[
                    string_filter("region", "Kingston Parish"),
                    in_list("sessionDefaultChannelGroup", "Direct", "Email"),
                ]
            )
        ),
    )
    assert {k for k, _ in table(both)} <= {
        ("Kingston Parish", "Direct"),
        ("Kingston Parish", "Email"),
    }
    assert column(both) == {"Kingston Parish"} and len(both.rows) >= 1

    either = report(
        ga4,
        dimensions=dims("region"),
        dimension_filter=FilterExpression(
            or_group=FilterExpressionList(
                expressions=[
                    string_filter("region", "Hanover Parish"),
                    string_filter("region", "Portland", StringMatch.BEGINS_WITH),
                ]
            )
        ),
    )
    assert column(either) == {"Hanover Parish", "Portland Parish"}

    others = report(
        ga4,
        dimensions=dims("region"),
        dimension_filter=FilterExpression(
            not_expression=FilterExpression(
                or_group=FilterExpressionList(
                    expressions=[
                        string_filter("region", "Saint", StringMatch.BEGINS_WITH),
                        in_list("region", "(not set)"),
                    ]
                )
            )
        ),
    )
    assert column(others) == ALL_REGIONS - SAINTS - {"(not set)"}


def test_metric_filter_applies_to_the_aggregated_rows(ga4: Any) -> None:
    everything = table(report(ga4, dimensions=dims("region", "date")))
    busy = report(
        ga4,
        dimensions=dims("region", "date"),
        metric_filter=numeric_filter("sessions", Operation.GREATER_THAN, 150),
    )
    expected = [(k, m) for k, m in everything if m[0] > 150]
    assert 0 < len(expected) < len(everything)
    assert sorted(table(busy)) == sorted(expected) and busy.row_count == len(expected)


def test_order_bys_sort_by_metric_and_dimension(ga4: Any) -> None:
    by_sessions = table(
        report(
            ga4,
            dimensions=dims("region"),
            order_bys=[OrderBy(metric=OrderBy.MetricOrderBy(metric_name="sessions"), desc=True)],
        )
    )
    sessions = [m[0] for _, m in by_sessions]
    assert sessions == sorted(sessions, reverse=True) and len(sessions) == len(ALL_REGIONS)

    by_name = report(
        ga4,
        dimensions=dims("region"),
        order_bys=[OrderBy(dimension=OrderBy.DimensionOrderBy(dimension_name="region"), desc=True)],
    )
    names = [k[0] for k, _ in table(by_name)]
    assert names[:3] == ["Westmoreland Parish", "Trelawny Parish", "Saint Thomas Parish"]
    assert names[-1] == "(not set)"

    # Two orderBys: channel ascending, then sessions descending within each channel.
    nested = table(
        report(
            ga4,
            dimensions=dims("sessionDefaultChannelGroup", "region"),
            order_bys=[
                OrderBy(
                    dimension=OrderBy.DimensionOrderBy(dimension_name="sessionDefaultChannelGroup")
                ),
                OrderBy(metric=OrderBy.MetricOrderBy(metric_name="sessions"), desc=True),
            ],
        )
    )
    channels = [k[0] for k, _ in nested]
    assert channels == sorted(channels) and channels[0] == "Direct"
    for channel in set(channels):
        within = [m[0] for k, m in nested if k[0] == channel]
        assert within == sorted(within, reverse=True)

    numeric = report(
        ga4,
        dimensions=dims("date"),
        order_bys=[
            OrderBy(
                dimension=OrderBy.DimensionOrderBy(
                    dimension_name="date",
                    order_type=OrderBy.DimensionOrderBy.OrderType.NUMERIC,
                ),
                desc=True,
            )
        ],
    )
    assert [k[0] for k, _ in table(numeric)] == [f"202611{d:02d}" for d in range(14, 7, -1)]


def test_metric_aggregations_answer_totals_minimums_and_maximums(ga4: Any) -> None:
    metrics = [Metric(name="sessions"), Metric(name="screenPageViews")]
    everything = table(report(ga4, dimensions=dims("region"), metrics=metrics))
    answer = report(
        ga4,
        dimensions=dims("region"),
        metrics=metrics,
        limit=3,  # the aggregations cover every row, not just this page
        metric_aggregations=[
            MetricAggregation.TOTAL,
            MetricAggregation.MINIMUM,
            MetricAggregation.MAXIMUM,
        ],
    )
    assert len(answer.rows) == 3 and answer.row_count == len(everything)
    sessions = [m[0] for _, m in everything]
    views = [m[1] for _, m in everything]
    assert table(RunReportResponse(rows=answer.totals)) == [
        (("RESERVED_TOTAL",), (sum(sessions), sum(views)))
    ]
    assert table(RunReportResponse(rows=answer.minimums)) == [
        (("RESERVED_MIN",), (min(sessions), min(views)))
    ]
    assert table(RunReportResponse(rows=answer.maximums)) == [
        (("RESERVED_MAX",), (max(sessions), max(views)))
    ]
    plain = report(ga4, dimensions=dims("region"))
    assert list(plain.totals) == [] and list(plain.maximums) == []


def test_limit_and_offset_page_through_the_rows(ga4: Any) -> None:
    everything = table(report(ga4, dimensions=dims("date", "region")))
    pages = []
    offset = 0
    while True:
        page = report(ga4, dimensions=dims("date", "region"), limit=25, offset=offset)
        assert page.row_count == len(everything)
        if not page.rows:
            break
        pages += table(page)
        offset += len(page.rows)
    assert pages == everything and offset == len(everything)


def test_up_to_four_date_ranges_with_the_date_range_dimension(ga4: Any) -> None:
    earlier = DateRange(start_date="2026-11-01", end_date="2026-11-07")
    two = report(ga4, dimensions=dims("region"), date_ranges=[WEEK, earlier])
    # Several ranges: each row carries the dateRange dimension, named date_range_<index>.
    assert [h.name for h in two.dimension_headers] == ["region", "dateRange"]
    assert {k[1] for k, _ in table(two)} == {"date_range_0", "date_range_1"}
    alone = dict(table(report(ga4, dimensions=dims("region"), date_ranges=[earlier])))
    assert {(k[0],): m for k, m in table(two) if k[1] == "date_range_1"} == alone

    named = report(
        ga4,
        dimensions=dims("dateRange"),
        date_ranges=[
            DateRange(start_date="2026-11-08", end_date="2026-11-14", name="this_week"),
            DateRange(start_date="2026-11-01", end_date="2026-11-07", name="last_week"),
        ],
        metric_aggregations=[MetricAggregation.TOTAL],
    )
    by_name = dict(table(named))
    assert set(by_name) == {("this_week",), ("last_week",)}
    assert by_name[("last_week",)] == (sum(m[0] for m in alone.values()),)
    # One totals row per date range, the other dimensions RESERVED_TOTAL.
    assert table(RunReportResponse(rows=named.totals)) == [
        (("this_week",), by_name[("this_week",)]),
        (("last_week",), by_name[("last_week",)]),
    ]

    four = [DateRange(start_date=f"2026-11-0{d}", end_date=f"2026-11-0{d}") for d in (1, 2, 3, 4)]
    answer = report(ga4, dimensions=dims("date"), date_ranges=four)
    assert {k for k, _ in table(answer)} == {
        ("20261101", "date_range_0"),
        ("20261102", "date_range_1"),
        ("20261103", "date_range_2"),
        ("20261104", "date_range_3"),
    }

    with pytest.raises(gexc.BadRequest) as five:
        report(ga4, date_ranges=[*four, WEEK])
    assert five.value.code == 400
    assert five.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "up to 4 date ranges" in five.value.message

    with pytest.raises(gexc.BadRequest) as reserved:
        report(
            ga4,
            date_ranges=[
                DateRange(start_date="2026-11-01", end_date="2026-11-02", name="RESERVED_x")
            ],
        )
    assert "cannot begin with date_range_ or RESERVED_" in reserved.value.message


def test_ga4_errors_reach_the_client_exception_types(sim: GoogleSimulator, ga4: Any) -> None:
    with pytest.raises(gexc.BadRequest) as invalid:
        report(ga4, dimensions=dims("pageTitle"))
    assert invalid.value.code == 400
    assert "pageTitle is not a valid dimension" in invalid.value.message
    error = invalid.value.response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"

    with pytest.raises(gexc.BadRequest) as bad_order:
        report(
            ga4,
            dimensions=dims("region"),
            order_bys=[OrderBy(metric=OrderBy.MetricOrderBy(metric_name="keyEvents"))],
        )
    assert "keyEvents in orderBys" in bad_order.value.message

    with pytest.raises(gexc.Forbidden) as scope:
        report(ga4_client(sim, "sim_conformance_gsconly_1"))
    assert scope.value.code == 403
    assert scope.value.reason == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert scope.value.domain == "googleapis.com"

    sim.state.configure(deny_properties=["555"])
    with pytest.raises(gexc.Forbidden) as denied:
        report(ga4)
    assert "sufficient permissions for this property" in denied.value.message
    sim.state.configure(deny_properties=[])

    sim.state.inject(":runReport", count=1, http_status=429)
    with pytest.raises(gexc.TooManyRequests) as limited:
        report(ga4)
    assert limited.value.response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    sim.state.inject(":runReport", count=1, http_status=503)
    with pytest.raises(gexc.ServiceUnavailable):
        report(ga4)
    assert report(ga4).row_count > 0  # the faults are spent

    with pytest.raises(RefreshError, match="invalid_grant"):
        report(ga4_client(sim, "sim_revoked_conformance"))


def test_unknown_paths_and_methods_answer_google_json_errors(sim: GoogleSimulator) -> None:
    session = AuthorizedSession(credentials(sim))
    cases = [
        ("GET", f"{sim.url}/v1beta/{PROPERTY}:runReport", gexc.MethodNotAllowed, 405),
        ("POST", f"{sim.url}/v1beta/{PROPERTY}:runReportz", gexc.NotFound, 404),
        ("POST", f"{sim.url}/v9/nothing/here", gexc.NotFound, 404),
    ]
    for method, url, exception, status in cases:
        response = session.request(method, url, json={} if method == "POST" else None)
        assert response.status_code == status, url
        error = gexc.from_http_response(response)
        assert isinstance(error, exception) and error.code == status
        assert response.headers["content-type"].startswith("application/json")

    body = session.get(f"{sim.url}/v1beta/{PROPERTY}:runReport").json()["error"]
    assert body["code"] == 405 and body["message"].startswith("Method GET is not allowed")
    assert isinstance(body["status"], str)


# --------------------------------------------------------------------------------------------
# Search Console
# --------------------------------------------------------------------------------------------


def test_sites_list_and_get_answer_site_entries(sim: GoogleSimulator, gsc: Any) -> None:
    assert gsc.sites().list().execute() == {}  # a user without sites: an empty object
    sim.state.configure(
        sites={
            "sc-domain:blue-mountain.jm": "siteOwner",
            SITE: "siteFullUser",
            "https://shop.blue-mountain.jm/": "siteUnverifiedUser",
        }
    )
    assert gsc.sites().list().execute() == {
        "siteEntry": [
            {"siteUrl": "https://shop.blue-mountain.jm/", "permissionLevel": "siteUnverifiedUser"},
            {"siteUrl": SITE, "permissionLevel": "siteFullUser"},
            {"siteUrl": "sc-domain:blue-mountain.jm", "permissionLevel": "siteOwner"},
        ]
    }
    assert gsc.sites().get(siteUrl="sc-domain:blue-mountain.jm").execute() == {
        "siteUrl": "sc-domain:blue-mountain.jm",
        "permissionLevel": "siteOwner",
    }

    with pytest.raises(HttpError) as unverified:
        gsc.searchanalytics().query(
            siteUrl="https://shop.blue-mountain.jm/",
            body={"startDate": "2026-11-01", "endDate": "2026-11-02"},
        ).execute()
    assert unverified.value.status_code == 403

    sim.state.configure(deny_sites=[SITE])
    with pytest.raises(HttpError) as denied:
        gsc.sites().get(siteUrl=SITE).execute()
    assert denied.value.status_code == 403
    assert "sufficient permission for site" in denied.value.reason
    assert [e["siteUrl"] for e in gsc.sites().list().execute()["siteEntry"]] == [
        "https://shop.blue-mountain.jm/",
        "sc-domain:blue-mountain.jm",
    ]


def test_search_analytics_query_through_the_discovery_client(gsc: Any) -> None:
    body = {"startDate": "2026-11-01", "endDate": "2026-11-07", "dimensions": ["date", "device"]}
    answer = gsc.searchanalytics().query(siteUrl=SITE, body=body).execute()
    rows = answer["rows"]
    assert answer["responseAggregationType"] == "byProperty"
    assert {r["keys"][0] for r in rows} == {f"2026-11-0{d}" for d in range(1, 8)}
    assert {r["keys"][1] for r in rows} == {"MOBILE", "DESKTOP", "TABLET"}
    clicks = [r["clicks"] for r in rows]
    assert clicks == sorted(clicks, reverse=True)
    assert all(r["ctr"] == pytest.approx(r["clicks"] / r["impressions"]) for r in rows)

    paged = []
    for start in range(0, len(rows) + 5, 5):
        page = (
            gsc.searchanalytics()
            .query(siteUrl=SITE, body={**body, "rowLimit": 5, "startRow": start})
            .execute()
        )
        paged += page.get("rows", [])
    assert paged == rows


def test_search_console_errors_reach_http_error(sim: GoogleSimulator, gsc: Any) -> None:
    with pytest.raises(HttpError) as too_many:
        gsc.searchanalytics().query(
            siteUrl=SITE,
            body={"startDate": "2026-11-01", "endDate": "2026-11-02", "rowLimit": 25001},
        ).execute()
    assert too_many.value.status_code == 400
    assert "rowLimit must be between 1 and 25000" in too_many.value.reason

    with pytest.raises(HttpError) as not_modelled:
        gsc.sites().add(siteUrl="sc-domain:new.jm").execute()
    assert not_modelled.value.status_code == 501

    http = AuthorizedHttp(credentials(sim))
    query = f"{sim.url}/webmasters/v3/sites/{SITE.replace(':', '%3A').replace('/', '%2F')}"
    for method, uri, status in [
        ("GET", f"{query}/searchAnalytics/query", 405),
        ("PATCH", f"{sim.url}/webmasters/v3/sites", 405),
        ("GET", f"{query}/nothingHere", 404),
        ("GET", f"{sim.url}/webmasters/v1/sites", 404),
    ]:
        with pytest.raises(HttpError) as caught:
            HttpRequest(http, JsonModel().response, uri, method=method).execute()
        assert caught.value.status_code == status, uri
        error = caught.value.error_details
        assert isinstance(error, list) and error[0]["reason"] in (
            "notFound",
            "httpMethodNotAllowed",
        )
