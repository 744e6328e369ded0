"""Fields Meta documents per node type of the Marketing API (Graph API v26.0).

Taken from the reference pages (AdAccount, Campaign, AdSet, Ad, AdsInsights, AdReportRun, User),
as listed by Meta's own Python SDK (``facebook_business`` 26.0.3, ``<Node>.Field`` and the
``AdsInsights`` enums). A field outside its node's list is answered with ``(#100) Tried
accessing nonexisting field``, as Meta does; a documented field the simulator has no value for
is left out of the answer, as Meta leaves out fields without a value.
"""

#: AdAccount fields.
ACCOUNT_FIELDS: frozenset[str] = frozenset(
    {
        "account_id", "account_status", "ad_account_promotable_objects", "age",
        "agency_client_declaration", "all_capabilities", "amount_spent", "attribution_spec",
        "balance", "brand_safety_content_filter_levels", "business", "business_city",
        "business_country_code", "business_name", "business_state", "business_street",
        "business_street2", "business_zip", "can_create_brand_lift_study", "capabilities",
        "created_time", "currency", "custom_audience_info", "default_dsa_beneficiary",
        "default_dsa_payor", "disable_reason", "end_advertiser", "end_advertiser_name",
        "existing_customers", "expired_funding_source_details", "extended_credit_invoice_group",
        "failed_delivery_checks", "fb_entity", "funding_source", "funding_source_details",
        "has_migrated_permissions", "has_page_authorized_adaccount", "id", "io_number",
        "is_attribution_spec_system_default", "is_ba_skip_delayed_eligible",
        "is_direct_deals_enabled", "is_in_3ds_authorization_enabled_market",
        "is_notifications_enabled", "is_personal", "is_prepay_account", "is_tax_id_required",
        "liable_address", "line_numbers", "marketing_messages_settings", "media_agency",
        "min_campaign_group_spend_cap", "min_daily_budget", "name", "offsite_clo_signal_status",
        "offsite_pixels_tos_accepted", "opportunity_score", "opportunity_score_weight", "owner",
        "owner_business", "partner", "rf_spec", "send_bill_to_address",
        "show_checkout_experience", "sold_to_address", "spend_cap", "tax_id", "tax_id_status",
        "tax_id_type", "timezone_id", "timezone_name", "timezone_offset_hours_utc",
        "tos_accepted", "user_access_expire_time", "user_tasks", "user_tos_accepted",
        "viewable_business"
    }
)  # fmt: skip

#: Campaign fields.
CAMPAIGN_FIELDS: frozenset[str] = frozenset(
    {
        "account_id", "adbatch", "adlabels", "advantage_state_info", "bid_constraints",
        "bid_strategy", "boosted_object_id", "brand_lift_studies", "budget_rebalance_flag",
        "budget_remaining", "budget_schedule_specs", "buying_type", "campaign_group_active_time",
        "can_create_brand_lift_study", "can_use_spend_cap", "configured_status", "created_time",
        "daily_budget", "effective_status", "execution_options", "frequency_control_specs",
        "has_secondary_skadnetwork_reporting", "id", "is_adset_budget_sharing_enabled",
        "is_budget_schedule_enabled", "is_direct_send_campaign", "is_message_campaign",
        "is_meta_moment_maker_enabled", "is_pca_unified", "is_reels_trending_ads_enabled",
        "is_skadnetwork_attribution", "issues_info", "iterative_split_test_configs",
        "last_budget_toggling_time", "lifetime_budget", "name", "objective", "pacing_type",
        "primary_attribution", "promoted_object", "recommendations", "smart_promotion_type",
        "source_campaign", "source_campaign_id", "source_recommendation_type",
        "special_ad_categories", "special_ad_category", "special_ad_category_country",
        "spend_cap", "start_time", "status", "stop_time", "topline_id", "updated_time"
    }
)  # fmt: skip

#: AdSet fields.
ADSET_FIELDS: frozenset[str] = frozenset(
    {
        "account_id", "ad_set_goal", "adlabels", "adset_schedule",
        "anchor_event_attribution_window_days", "asset_feed_id", "attribution_count_type",
        "attribution_spec", "automatic_manual_state", "bid_adjustments", "bid_amount",
        "bid_constraints", "bid_info", "bid_strategy", "billing_event", "brand_safety_config",
        "budget_remaining", "campaign", "campaign_active_time", "campaign_attribution",
        "campaign_id", "configured_status", "created_time", "creative_diversity_label",
        "creative_diversity_score", "creative_sequence", "creative_sequence_repetition_pattern",
        "daily_budget", "daily_min_spend_target", "daily_spend_cap", "destination_type",
        "dsa_beneficiary", "dsa_payor", "effective_status", "end_time",
        "existing_customer_budget_percentage", "frequency_control_specs",
        "full_funnel_exploration_mode", "id", "instagram_user_id", "is_ba_skip_delayed_eligible",
        "is_budget_schedule_enabled", "is_dc_follow_optimized", "is_dynamic_creative",
        "is_incremental_attribution_enabled", "is_organic_ad_joint_optimized",
        "is_sequenced_conversion_creation", "issues_info", "learning_stage_info",
        "lifetime_budget", "lifetime_imps", "lifetime_min_spend_target", "lifetime_spend_cap",
        "live_video_ad_campaign_config", "low_creative_reach", "max_budget_spend_percentage",
        "meta_moment_maker_spec", "min_budget_spend_percentage",
        "multi_event_conversion_attribution_window_seconds", "multi_optimization_goal_weight",
        "name", "optimization_goal", "optimization_sub_event", "pacing_type",
        "placement_soft_opt_out", "promoted_object", "recommendations",
        "recurring_budget_semantics", "regional_regulated_categories",
        "regional_regulation_identities", "relative_value", "review_feedback", "rf_prediction_id",
        "source_adset", "source_adset_id", "special_ad_categories", "start_time", "status",
        "targeting", "targeting_optimization_types", "time_based_ad_rotation_id_blocks",
        "time_based_ad_rotation_intervals", "trending_topics_spec", "updated_time",
        "use_new_app_click", "value_rule_set_id", "value_rules_applied"
    }
)  # fmt: skip

#: Ad fields.
AD_FIELDS: frozenset[str] = frozenset(
    {
        "account_id", "ad_active_time", "ad_review_feedback", "ad_schedule_end_time",
        "ad_schedule_start_time", "adlabels", "adset", "adset_id", "adset_spec", "audience_id",
        "bid_amount", "bid_info", "bid_type", "campaign", "campaign_id", "configured_status",
        "conversion_domain", "conversion_specs", "created_time", "creative",
        "creative_asset_groups_spec", "creative_audience_pairing_persona",
        "creative_automation_spec", "dataset_split_specs", "date_format", "demolink_hash",
        "display_sequence", "draft_adgroup_id", "effective_status", "engagement_audience",
        "execution_options", "failed_delivery_checks", "filename", "id",
        "include_demolink_hashes", "issues_info", "last_updated_by_app_id", "name", "placement",
        "preview_shareable_link", "priority", "recommendations", "source_ad", "source_ad_id",
        "special_ad_categories", "status", "targeting", "tracking_and_conversion_with_defaults",
        "tracking_specs", "updated_time"
    }
)  # fmt: skip

#: AdsInsights fields.
INSIGHTS_FIELDS: frozenset[str] = frozenset(
    {
        "account_currency", "account_id", "account_name", "action_values", "actions",
        "ad_click_actions", "ad_id", "ad_impression_actions", "ad_name", "adset_end", "adset_id",
        "adset_name", "adset_start", "advanced_actions_28d_view", "advanced_reach_1d_lookback",
        "advanced_reach_28d_lookback", "advanced_reach_7d_lookback", "age_targeting",
        "aggregated_play_time_per_reach", "anchor_event_attribution_setting",
        "anchor_events_performance_indicator", "attribution_setting", "auction_bid",
        "auction_competitiveness", "auction_max_competitor_bid",
        "average_purchases_conversion_value", "buying_type", "campaign_id", "campaign_name",
        "canvas_avg_view_percent", "canvas_avg_view_time", "catalog_segment_actions",
        "catalog_segment_value", "catalog_segment_value_mobile_purchase_roas",
        "catalog_segment_value_omni_purchase_roas", "catalog_segment_value_website_purchase_roas",
        "clicks", "configurable_attribution_action", "configurable_attribution_actionvalue",
        "configurable_audience_overlap_reach", "configurable_audience_overlap_with_conv_action",
        "configurable_audience_overlap_with_conv_converters",
        "configurable_audience_overlap_with_conv_exposure_cost",
        "configurable_audience_overlap_with_conv_exposure_impressions",
        "configurable_audience_overlap_with_conv_exposure_reach",
        "configurable_creative_format_performance_adset_count",
        "configurable_creative_format_performance_clicks",
        "configurable_creative_format_performance_conversions",
        "configurable_creative_format_performance_converters",
        "configurable_creative_format_performance_impressions",
        "configurable_creative_format_performance_spend",
        "configurable_placement_ptc_conversions", "configurable_placement_ptc_converters",
        "configurable_placement_ptc_reach", "configurable_reachbyfrequency_action",
        "configurable_reachbyfrequency_converters_count",
        "configurable_reachbyfrequency_impressions_cost",
        "configurable_reachbyfrequency_impressions_count", "configurable_reachbyfrequency_reach",
        "conversion_lead_rate", "conversion_leads", "conversion_rate_ranking",
        "conversion_values", "conversions",
        "converted_product_app_custom_event_fb_mobile_purchase",
        "converted_product_app_custom_event_fb_mobile_purchase_value",
        "converted_product_offline_purchase", "converted_product_offline_purchase_value",
        "converted_product_omni_purchase", "converted_product_omni_purchase_values",
        "converted_product_quantity", "converted_product_value",
        "converted_product_website_pixel_purchase",
        "converted_product_website_pixel_purchase_value",
        "converted_promoted_product_app_custom_event_fb_mobile_purchase",
        "converted_promoted_product_app_custom_event_fb_mobile_purchase_value",
        "converted_promoted_product_offline_purchase",
        "converted_promoted_product_offline_purchase_value",
        "converted_promoted_product_omni_purchase",
        "converted_promoted_product_omni_purchase_values", "converted_promoted_product_quantity",
        "converted_promoted_product_value", "converted_promoted_product_website_pixel_purchase",
        "converted_promoted_product_website_pixel_purchase_value", "cost_per_15_sec_video_view",
        "cost_per_2_sec_continuous_video_view", "cost_per_6_sec_video_view",
        "cost_per_action_type", "cost_per_ad_click", "cost_per_conversion",
        "cost_per_conversion_lead", "cost_per_dda_countby_convs",
        "cost_per_estimated_ad_recallers", "cost_per_inline_link_click",
        "cost_per_inline_post_engagement", "cost_per_message_delivered",
        "cost_per_mmp_credited_install", "cost_per_objective_result",
        "cost_per_one_thousand_ad_impression", "cost_per_outbound_click", "cost_per_result",
        "cost_per_thruplay", "cost_per_unique_action_type", "cost_per_unique_click",
        "cost_per_unique_conversion", "cost_per_unique_inline_link_click",
        "cost_per_unique_outbound_click", "cpc", "cpm", "cpp", "created_time",
        "creative_diversity_data", "creative_diversity_label", "creative_diversity_score",
        "creative_fatigue_summary", "creative_fatigued_ads", "creative_media_type", "ctr",
        "date_start", "date_stop", "dda_countby_convs", "dda_results", "engagement_rate_ranking",
        "estimated_ad_recall_rate", "estimated_ad_recall_rate_lower_bound",
        "estimated_ad_recall_rate_upper_bound", "estimated_ad_recallers",
        "estimated_ad_recallers_lower_bound", "estimated_ad_recallers_upper_bound", "frequency",
        "full_view_impressions", "full_view_reach", "gender_targeting", "impressions",
        "inline_link_click_ctr", "inline_link_clicks", "inline_post_engagement",
        "instagram_profile_follow", "instagram_profile_visits",
        "instagram_upcoming_event_reminders_set", "instant_experience_clicks_to_open",
        "instant_experience_clicks_to_start", "instant_experience_outbound_clicks",
        "interactive_component_tap", "labels", "landing_page_view_actions_per_link_click",
        "landing_page_view_per_link_click", "landing_page_view_per_purchase_rate",
        "link_clicks_per_results", "location", "marketing_messages_click_rate_benchmark",
        "marketing_messages_cost_per_delivered", "marketing_messages_cost_per_link_btn_click",
        "marketing_messages_delivered", "marketing_messages_delivery_rate",
        "marketing_messages_link_btn_click", "marketing_messages_link_btn_click_rate",
        "marketing_messages_media_view_rate", "marketing_messages_phone_call_btn_click_rate",
        "marketing_messages_quick_reply_btn_click",
        "marketing_messages_quick_reply_btn_click_rate", "marketing_messages_read",
        "marketing_messages_read_rate", "marketing_messages_read_rate_benchmark",
        "marketing_messages_sent", "marketing_messages_spend",
        "marketing_messages_spend_currency", "messages_delivered", "messages_delivered_ctr",
        "mmp_credited_install", "mobile_app_purchase_roas", "msa_seller_budget",
        "multi_event_conversion_attribution_setting", "objective", "objective_result_rate",
        "objective_results", "onsite_conversion_messaging_detected_purchase_deduped",
        "opportunity_score_l4", "optimization_goal", "outbound_clicks", "outbound_clicks_ctr",
        "place_page_name", "playable_average_game_length", "playable_game_start_rate",
        "product_group_retailer_id", "product_retailer_id", "product_views",
        "purchase_per_landing_page_view", "purchase_roas", "purchases_per_link_click",
        "qualifying_question_qualify_answer_rate", "quality_ranking", "reach", "read_rate",
        "result_rate", "result_values_performance_indicator", "results", "shop_clicks",
        "shops_assisted_purchases", "social_spend", "spend", "total_card_view", "total_postbacks",
        "total_postbacks_detailed", "total_postbacks_detailed_v4", "unique_actions",
        "unique_clicks", "unique_conversions", "unique_ctr", "unique_inline_link_click_ctr",
        "unique_inline_link_clicks", "unique_link_clicks_ctr", "unique_outbound_clicks",
        "unique_outbound_clicks_ctr", "unique_video_continuous_2_sec_watched_actions",
        "unique_video_view_15_sec", "updated_time", "video_15_sec_watched_actions",
        "video_30_sec_watched_actions", "video_6_sec_watched_actions",
        "video_avg_time_watched_actions", "video_continuous_2_sec_watched_actions",
        "video_p100_watched_actions", "video_p25_watched_actions", "video_p50_watched_actions",
        "video_p75_watched_actions", "video_p95_watched_actions", "video_play_actions",
        "video_play_curve_actions", "video_play_retention_0_to_15s_actions",
        "video_play_retention_20_to_60s_actions", "video_play_retention_graph_actions",
        "video_thruplay_watched_actions", "video_time_watched_actions",
        "video_view_per_impression", "website_ctr", "website_purchase_roas", "wish_bid"
    }
)  # fmt: skip

#: AdReportRun fields.
REPORT_RUN_FIELDS: frozenset[str] = frozenset(
    {
        "account_id", "action_attribution_windows", "action_breakdowns", "action_report_time",
        "async_percent_completion", "async_report_url", "async_status", "breakdowns", "cpas_only",
        "date_preset", "date_start", "date_stop", "default_summary", "emails", "error_code",
        "error_message", "error_subcode", "error_user_msg", "error_user_title", "export_columns",
        "export_format", "export_name", "fields", "filtering", "friendly_name", "graph_cache",
        "id", "is_async_export", "is_bookmarked", "is_running", "level", "limit",
        "product_id_limit", "schedule_id", "sort", "summary", "summary_action_breakdowns",
        "time_completed", "time_increment", "time_range", "time_ranges", "time_ref",
        "use_account_attribution_setting", "use_unified_attribution_setting"
    }
)  # fmt: skip

#: User fields.
USER_FIELDS: frozenset[str] = frozenset(
    {
        "about", "age_range", "birthday", "client_business_id", "community", "cover", "currency",
        "education", "email", "favorite_athletes", "favorite_teams", "first_name", "gender",
        "hometown", "id", "inspirational_people", "install_type", "installed", "is_guest_user",
        "is_work_account", "languages", "last_name", "link",
        "local_news_megaphone_dismiss_status", "local_news_subscription_status", "locale",
        "location", "meeting_for", "middle_name", "name", "name_format", "payment_pricepoints",
        "political", "profile_pic", "quotes", "relationship_status", "religion",
        "shared_login_upgrade_required_by", "short_name", "significant_other", "sports",
        "supports_donate_button_in_live_video", "third_party_id", "timezone",
        "token_for_business", "updated_time", "verified", "video_upload_limits", "website"
    }
)  # fmt: skip

#: AdsInsights action_breakdowns values.
ACTION_BREAKDOWNS: frozenset[str] = frozenset(
    {
        "action_canvas_component_name", "action_carousel_card_id", "action_carousel_card_name",
        "action_destination", "action_device", "action_reaction", "action_target_id",
        "action_type", "action_video_sound", "action_video_type", "conversion_destination",
        "is_business_ai_assisted", "matched_persona_id", "matched_persona_name",
        "signal_source_bucket", "standard_event_content_type"
    }
)  # fmt: skip

#: AdsInsights action_attribution_windows values.
ATTRIBUTION_WINDOWS: frozenset[str] = frozenset(
    {
        "1d_click", "1d_ev", "1d_sequenced", "1d_view", "28d_click", "28d_sequenced", "28d_view",
        "28d_view_all_conversions", "28d_view_first_conversion", "7d_click", "7d_sequenced",
        "7d_view", "7d_view_all_conversions", "7d_view_first_conversion", "custom", "dda",
        "default", "incrementality", "incrementality_all_conversions",
        "incrementality_first_conversion", "skan_click", "skan_click_second_postback",
        "skan_click_third_postback", "skan_view", "skan_view_second_postback",
        "skan_view_third_postback"
    }
)  # fmt: skip

#: AdsInsights action_report_time values.
ACTION_REPORT_TIMES: frozenset[str] = frozenset(
    {
        "conversion", "impression", "lifetime", "mixed"
    }
)  # fmt: skip

#: AdsInsights breakdowns values.
BREAKDOWNS: frozenset[str] = frozenset(
    {
        "ad_extension_domain", "ad_extension_url", "ad_format_asset", "affiliate_click_region",
        "affiliate_link_url", "age", "app_id", "body_asset", "breakdown_ad_objective",
        "breakdown_reporting_ad_id", "call_to_action_asset", "coarse_conversion_value",
        "comscore_market", "conversion_destination", "country", "creative_automation_asset_id",
        "creative_fingerprint_details", "creative_format_classification",
        "creative_media_type_breakdown", "creative_relaxation_asset_type",
        "crm_advertiser_l12_territory_ids", "crm_advertiser_subvertical_id",
        "crm_advertiser_vertical_id", "crm_ult_advertiser_id", "description_asset",
        "device_platform", "dma", "existing_post_id", "fidelity_type",
        "flexible_format_asset_type", "frequency_value", "gen_ai_asset_type", "gender",
        "hourly_stats_aggregated_by_advertiser_time_zone",
        "hourly_stats_aggregated_by_audience_time_zone", "hsid", "image_asset",
        "impression_device", "impression_view_time_advertiser_hour_v2",
        "instagram_ads_follow_type", "instagram_ads_instagram_media_product_type",
        "instagram_ads_time_since_creation_bucket", "internal_campaign_id", "is_auto_advance",
        "is_conversion_id_modeled", "is_rendered_as_delayed_skip_ad", "landing_destination",
        "link_url_asset", "marketing_messages_btn_name", "mdsa_landing_destination",
        "media_asset_url", "media_creator", "media_destination_url", "media_format", "media_id",
        "media_origin_url", "media_text_content", "media_type", "mmm", "msa_seller_name",
        "overlap_segment", "pa_creator_ig_handle", "place_page_id", "placement_path",
        "platform_position", "postback_sequence_index", "product_brand_breakdown",
        "product_category_breakdown", "product_custom_label_0_breakdown",
        "product_custom_label_1_breakdown", "product_custom_label_2_breakdown",
        "product_custom_label_3_breakdown", "product_custom_label_4_breakdown",
        "product_group_content_id_breakdown", "product_id", "publisher_platform", "redownload",
        "reels_trending_topic", "region", "rta_ugc_topic", "rule_set_id", "rule_set_name",
        "signal_source", "signal_source_bucket", "skan_campaign_id", "skan_conversion_id",
        "skan_version", "sot_attribution_model_type", "sot_attribution_window", "sot_channel",
        "sot_event_type", "sot_source", "standard_event_content_type", "title_asset",
        "user_persona_id", "user_persona_name", "video_asset", "zip"
    }
)  # fmt: skip

#: Campaign effective_status values.
CAMPAIGN_EFFECTIVE_STATUSES: frozenset[str] = frozenset(
    {
        "ACTIVE", "ARCHIVED", "DELETED", "IN_PROCESS", "PAUSED", "WITH_ISSUES"
    }
)  # fmt: skip

#: AdSet effective_status values.
ADSET_EFFECTIVE_STATUSES: frozenset[str] = frozenset(
    {
        "ACTIVE", "ARCHIVED", "CAMPAIGN_PAUSED", "DELETED", "IN_PROCESS", "PAUSED", "WITH_ISSUES"
    }
)  # fmt: skip

#: Ad effective_status values.
AD_EFFECTIVE_STATUSES: frozenset[str] = frozenset(
    {
        "ACTIVE", "ADSET_PAUSED", "ARCHIVED", "CAMPAIGN_PAUSED", "DELETED", "DISAPPROVED",
        "IN_PROCESS", "PAUSED", "PENDING_BILLING_INFO", "PENDING_REVIEW", "PREAPPROVED",
        "WITH_ISSUES"
    }
)  # fmt: skip
