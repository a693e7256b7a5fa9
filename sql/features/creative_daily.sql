-- Model features per creative x medium x device for one report date (@ds).
-- Trailing statistics of the creative, its ad group, its advertiser, each of its assets and
-- its headline x image pair (the numbers of the asset_daily and asset_pair_daily features)
-- use only days strictly before @ds (no leakage): serving and the scoring candidates compute
-- them the same way, with the same expressions (sql/macros/features.jinja).
-- The macros expand to one column per level x window x statistic (see the .yml).
{%- import "macros/features.jinja" as f %}
{%- set windows = params.trailing_windows %}
with today as (
    select
        report_date,
        medium,
        advertiser_id,
        campaign_id,
        ad_group_id,
        creative_id,
        device,
        industry,
        campaign_objective,
        impressions,
        clicks,
        conversions
    from staging.ad_performance
    where report_date = @ds
),

creatives as (
    select
        creative_id,
        headline,
        description,
        ad_format,
        first_seen_date
    from staging.creative_snapshot
    where report_date = @ds
),

creative_map as ({{ f.composition("staging.creative_assets", windows) }}
),

history as ({{ f.history("staging.ad_performance", windows) }}
),
{{- f.entity_trailing(windows) }}
{{- f.asset_trailing(windows) }}

final as (
    select
        today.report_date,
        today.medium,
        today.advertiser_id,
        today.campaign_id,
        today.ad_group_id,
        today.creative_id,
        today.device,
        today.industry,
        today.campaign_objective,
        creatives.ad_format,
        length(creatives.headline) as headline_length,
        length(creatives.description) as description_length,
        date_diff(@ds, creatives.first_seen_date, day) as creative_age_days,
        {{- f.feature_columns(windows) }},
        today.impressions,
        today.clicks,
        today.conversions
    from today
    left join creatives on today.creative_id = creatives.creative_id
    left join creative_map on today.creative_id = creative_map.creative_id
    {{- f.feature_joins("today", "today", "creative_map") }}
)

select * from final
