"""Synthetic raw rows for the dbt benchmark: every raw table, N tenants x D days, in SQL.

Generated inside PostgreSQL (``generate_series``), so millions of rows take seconds. The shapes
are the ingestion assets' (Meta ad-level insights by region, Airbyte's append-only Google Ads
table with re-delivered copies, GA4 by region and channel, Search Console by query/page), and so
is the physical order: rows are written day after day, as daily syncs write them (a day's rows
sit together on disk, not spread over every page of the table).
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

META_REGIONS = (
    "Kingston Parish", "St. Andrew", "Saint Catherine Parish", "Saint James Parish",
    "Manchester Parish", "Clarendon Parish", "St. Ann", "Westmoreland Parish",
    "Saint Elizabeth Parish", "Trelawny Parish", "Portland Parish", "Saint Mary Parish",
    "Saint Thomas Parish", "Hanover Parish", "Unknown",
)  # fmt: skip
GA4_REGIONS = (
    "Kingston Parish", "Saint Andrew Parish", "Saint Catherine Parish", "Saint James Parish",
    "Manchester Parish", "Clarendon Parish", "Saint Ann Parish", "(not set)",
)  # fmt: skip
CHANNELS = ("Organic Search", "Paid Social", "Paid Search", "Direct", "Referral", "Email")


def tenant_ids(tenants: int) -> list[str]:
    """Ids as ``generate`` writes them (two digits at least: bench-01 ... bench-100)."""
    return [f"bench-{n:02d}" for n in range(1, tenants + 1)]


#: Meta's ad x day rows (the read without a breakdown) as the sum of the region rows, ``where``
#: they are; ``upsert`` is the conflict clause of a re-read.
META_AD_ROWS = """
    insert into raw.meta_insights_ad (tenant_id, account_id, campaign_id, campaign_name,
        adset_id, adset_name, ad_id, ad_name, date_start, date_stop, spend, impressions,
        clicks, reach, conversions, conversion_value, currency, conversion_events, _loaded_at)
    select tenant_id, account_id, campaign_id, max(campaign_name), adset_id, max(adset_name),
           ad_id, max(ad_name), date_start, date_start, sum(spend), sum(impressions),
           sum(clicks), max(reach), sum(conversions), sum(conversions) * 25, max(currency),
           'purchase,lead,complete_registration', max(_loaded_at)
    from raw.meta_insights
    where {where}
    group by tenant_id, account_id, campaign_id, adset_id, ad_id, date_start
    {upsert}
"""


def generate(
    conn: Connection,
    *,
    tenants: int,
    days: int,
    until: date,
    campaigns: int = 8,
    adsets: int = 3,
    ads: int = 2,
    google_campaigns: int = 6,
    google_copies: int = 2,
    queries: int = 40,
) -> dict[str, int]:
    """Fill the raw tables; returns row counts per table. Days run ``until - days + 1 .. until``."""
    params = {
        "tenants": tenants,
        "days": days,
        "until": until,
        "campaigns": campaigns,
        "adsets": adsets,
        "ads": ads,
        "g_campaigns": google_campaigns,
        "copies": google_copies,
        "queries": queries,
        "meta_regions": list(META_REGIONS),
        "ga4_regions": list(GA4_REGIONS),
        "channels": list(CHANNELS),
    }
    statements = [
        """
        insert into app.tenants (id, name)
        select 'bench-' || to_char(t, 'FM99999900'), 'Bench tenant ' || t
        from generate_series(1, :tenants) t
        on conflict (id) do nothing
        """,
        """
        insert into raw.meta_ad_accounts (tenant_id, account_id, name, currency, timezone_name,
            account_status, _loaded_at)
        select 'bench-' || to_char(t, 'FM99999900'), 'act_' || (1000 + t), 'Account ' || t,
               case when t % 3 = 0 then 'USD' else 'JMD' end, 'America/Jamaica', 1,
               now() - interval '1 hour'
        from generate_series(1, :tenants) t
        """,
        """
        insert into raw.meta_campaigns (tenant_id, campaign_id, account_id, name, status,
            effective_status, objective, daily_budget, _loaded_at)
        select 'bench-' || to_char(t, 'FM99999900'), (t * 1000 + c)::text, 'act_' || (1000 + t),
               'Campaign ' || c, 'ACTIVE', 'ACTIVE', 'OUTCOME_TRAFFIC', 500000,
               now() - interval '1 hour'
        from generate_series(1, :tenants) t, generate_series(1, :campaigns) c
        """,
        # Ad-level insights by region; each day was last loaded as it happened (the newest
        # days an hour ago), which is what an hourly sync leaves behind.
        """
        insert into raw.meta_insights (tenant_id, account_id, campaign_id, campaign_name,
            adset_id, adset_name, ad_id, ad_name, date_start, date_stop, region, spend,
            impressions, clicks, reach, conversions, currency, _loaded_at)
        select 'bench-' || to_char(t, 'FM99999900'), 'act_' || (1000 + t), (t * 1000 + c)::text,
               'Campaign ' || c, (t * 100000 + c * 100 + s)::text, 'Ad set ' || s,
               (t * 10000000 + c * 10000 + s * 100 + a)::text, 'Ad ' || a,
               d::date, d::date, r.region,
               round((((t * 7 + c * 13 + s * 17 + a * 19 + extract(doy from d)::int * 3
                        + r.n * 5) % 97) + 3) * 1.37, 2),
               (t * 31 + c * 7 + a * 3 + r.n * 11 + extract(doy from d)::int) % 900 + 100,
               (t + c + a + r.n + extract(doy from d)::int) % 40,
               (t * 31 + c * 7 + a * 3 + r.n * 11) % 600 + 50,
               (c + a + r.n + extract(doy from d)::int) % 4,
               case when t % 3 = 0 then 'USD' else 'JMD' end,
               least(d::date + interval '23 hours', now() - interval '1 hour')
        from generate_series(1, :tenants) t,
             generate_series(1, :campaigns) c,
             generate_series(1, :adsets) s,
             generate_series(1, :ads) a,
             generate_series(cast(:until as date) - (:days - 1), cast(:until as date),
                             interval '1 day') d,
             unnest(cast(:meta_regions as text[])) with ordinality as r(region, n)
        order by d, t
        """,
        # The same ads' days read without a breakdown (the truth the region rows split): the
        # region rows summed.
        META_AD_ROWS.format(where="true", upsert=""),
        """
        insert into app.airbyte_connections (connection_id, tenant_id, provider,
            source_account_id)
        select 'conn-gads-' || t, 'bench-' || to_char(t, 'FM99999900'), 'google_ads',
               (5550000000 + t)::text
        from generate_series(1, :tenants) t
        """,
        # Airbyte appends: every re-sync of the conversion window delivers another copy.
        """
        insert into raw.google_ads_campaign_performance (_airbyte_raw_id, _airbyte_extracted_at,
            customer_id, customer_currency_code, campaign_id, campaign_name, campaign_status,
            segments_date, segments_geo_target_region, metrics_cost_micros, metrics_impressions,
            metrics_clicks, metrics_conversions)
        select gen_random_uuid()::text,
               least(d::date + interval '23 hours' + (k - 1) * interval '1 day',
                     now() - interval '1 hour' - (:copies - k) * interval '1 minute'),
               (5550000000 + t)::text, 'JMD', (t * 100 + c)::text, 'Search ' || c, 'ENABLED',
               d::date,
               case when g = 0 then null else 'geoTargetConstants/' || (9070000 + g) end,
               (((t * 7 + c * 13 + g * 5 + extract(doy from d)::int) % 89) + k) * 250000,
               (t * 13 + c * 7 + g * 3 + extract(doy from d)::int) % 700 + 50,
               (t + c + g + extract(doy from d)::int) % 30,
               ((c + g + extract(doy from d)::int) % 5) * 0.5
        from generate_series(1, :tenants) t,
             generate_series(1, :g_campaigns) c,
             generate_series(cast(:until as date) - (:days - 1), cast(:until as date),
                             interval '1 day') d,
             generate_series(0, 14) g,
             generate_series(1, :copies) k
        order by k, d, t
        """,
        """
        insert into raw.ga4_daily (tenant_id, property_id, date, region,
            session_default_channel_group, sessions, total_users, new_users, screen_page_views,
            engaged_sessions, key_events, _loaded_at)
        select 'bench-' || to_char(t, 'FM99999900'), (400000 + t)::text, d::date, r.region,
               ch.channel,
               (t * 17 + r.n * 5 + ch.n * 3 + extract(doy from d)::int) % 300 + 10,
               (t * 17 + r.n * 5 + ch.n * 3 + extract(doy from d)::int) % 250 + 5,
               (t * 7 + r.n + ch.n + extract(doy from d)::int) % 100,
               (t * 17 + r.n * 5 + ch.n * 3 + extract(doy from d)::int) % 900 + 20,
               (t * 11 + r.n * 3 + ch.n + extract(doy from d)::int) % 200,
               (r.n + ch.n + extract(doy from d)::int) % 9,
               least(d::date + interval '23 hours', now() - interval '1 hour')
        from generate_series(1, :tenants) t,
             generate_series(cast(:until as date) - (:days - 1), cast(:until as date),
                             interval '1 day') d,
             unnest(cast(:ga4_regions as text[])) with ordinality as r(region, n),
             unnest(cast(:channels as text[])) with ordinality as ch(channel, n)
        order by d, t
        """,
        """
        insert into raw.search_console_daily (tenant_id, site_url, date, query, page, country,
            device, clicks, impressions, ctr, position, data_state, _loaded_at)
        select 'bench-' || to_char(t, 'FM99999900'), 'https://bench-' || t || '.example/', d::date,
               'query ' || q, 'https://bench-' || t || '.example/page-' || (q % 7), 'jam', dev,
               (t + q + extract(doy from d)::int) % 20,
               (t * 3 + q * 7 + extract(doy from d)::int) % 400 + 20,
               0.05, 1 + (q % 30) * 0.7,
               case when d::date > cast(:until as date) - 3 then 'all' else 'final' end,
               least(d::date + interval '23 hours', now() - interval '1 hour')
        from generate_series(1, :tenants) t,
             generate_series(cast(:until as date) - (:days - 1), cast(:until as date),
                             interval '1 day') d,
             generate_series(1, :queries) q,
             unnest(array['DESKTOP', 'MOBILE', 'TABLET']) dev
        order by d, t
        """,
        # The day's USD -> JMD rate for every day (the marts convert USD accounts' spend into
        # the tenants' reporting currency, JMD); fetched the morning of each day, today's
        # before the last hour's data (a tick right after the daily fetch also re-converts
        # today's rows: the daily fetch's cost, not the 15-minute tick's).
        """
        insert into raw.fx_rates_daily (rate_date, base, quote, rate, source, fetched_at,
            _loaded_at)
        select d::date, 'USD', 'JMD', 155 + (extract(doy from d)::int % 13) * 0.2375, 'bench',
               least(d::date + interval '5 hours', now() - interval '2 hours'),
               least(d::date + interval '5 hours', now() - interval '2 hours')
        from generate_series(cast(:until as date) - (:days - 1), cast(:until as date),
                             interval '1 day') d
        on conflict (rate_date, base, quote) do nothing
        """,
    ]
    for statement in statements:
        conn.execute(sa.text(statement), params)
    counts: dict[str, int] = {}
    for table in (
        "raw.meta_insights",
        "raw.meta_insights_ad",
        "raw.google_ads_campaign_performance",
        "raw.ga4_daily",
        "raw.search_console_daily",
        "raw.fx_rates_daily",
    ):
        counts[table] = conn.execute(sa.text(f"select count(*) from {table}")).scalar_one()
    return counts


def new_hour(conn: Connection, *, until: date) -> dict[str, int]:
    """One hour's sync: every row of today grows (the hour's delivery) and a tenth of
    yesterday's rows is re-reported (late attribution), for every source."""
    written = {}
    written["raw.meta_insights"] = conn.execute(
        sa.text(
            """
            update raw.meta_insights
               set spend = spend + 1.25, impressions = impressions + 40, clicks = clicks + 1,
                   conversions = conversions + 1, _loaded_at = now()
             where date_start = cast(:until as date)
                or (date_start = cast(:until as date) - 1 and hashtext(ad_id || region) % 10 = 0)
            """
        ),
        {"until": until},
    ).rowcount
    written["raw.meta_insights_ad"] = conn.execute(
        sa.text(
            META_AD_ROWS.format(
                where="date_start >= cast(:until as date) - 1",
                upsert="""
                on conflict (tenant_id, ad_id, date_start) do update
                   set spend = excluded.spend, impressions = excluded.impressions,
                       clicks = excluded.clicks, conversions = excluded.conversions,
                       conversion_value = excluded.conversion_value, _loaded_at = now()
                 where (raw.meta_insights_ad.spend, raw.meta_insights_ad.impressions,
                        raw.meta_insights_ad.clicks, raw.meta_insights_ad.conversions)
                       is distinct from (excluded.spend, excluded.impressions,
                                         excluded.clicks, excluded.conversions)""",
            )
        ),
        {"until": until},
    ).rowcount
    written["raw.google_ads_campaign_performance"] = conn.execute(
        sa.text(
            """
            insert into raw.google_ads_campaign_performance (_airbyte_raw_id,
                _airbyte_extracted_at, customer_id, customer_currency_code, campaign_id,
                campaign_name, campaign_status, segments_date, segments_geo_target_region,
                metrics_cost_micros, metrics_impressions, metrics_clicks, metrics_conversions)
            select distinct on (customer_id, campaign_id, segments_date,
                                segments_geo_target_region)
                   gen_random_uuid()::text, now(), customer_id, customer_currency_code,
                   campaign_id, campaign_name, campaign_status, segments_date,
                   segments_geo_target_region, metrics_cost_micros + 1500000,
                   metrics_impressions + 30, metrics_clicks + 1, metrics_conversions
              from raw.google_ads_campaign_performance
             where segments_date = cast(:until as date)
                or (segments_date = cast(:until as date) - 1
                    and hashtext(campaign_id || coalesce(segments_geo_target_region, '')) % 10 = 0)
             order by customer_id, campaign_id, segments_date, segments_geo_target_region,
                      _airbyte_extracted_at desc
            """
        ),
        {"until": until},
    ).rowcount
    written["raw.ga4_daily"] = conn.execute(
        sa.text(
            "update raw.ga4_daily set sessions = sessions + 3, _loaded_at = now() "
            "where date = cast(:until as date)"
        ),
        {"until": until},
    ).rowcount
    written["raw.search_console_daily"] = conn.execute(
        sa.text(
            "update raw.search_console_daily set impressions = impressions + 5, "
            "_loaded_at = now() where date = cast(:until as date)"
        ),
        {"until": until},
    ).rowcount
    return written
