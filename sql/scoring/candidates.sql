-- Scoring candidates for one scoring date (@ds, a report date whose partitions the daily DAG
-- built): every combination (headline x description x image) of each ad group's assets
-- launched on or before @ds, for every scoring context (medium, device) in
-- config/scoring.yaml `contexts`, with every model source column under the name the
-- creative_daily features give it, computed by the same expressions
-- (sql/macros/features.jinja) from history strictly before @ds.
-- A combination that is a creative carries that creative's own history and age; one never
-- served has null creative rates, 0 creative impressions and age 0 (scored as new).
-- Assets and compositions: the newest row per id among the partitions of the trailing
-- window up to @ds (the newest snapshot on or before @ds when that snapshot is complete).
{%- import "macros/features.jinja" as f %}
{%- set windows = params.trailing_windows %}
with asset_library as (
    select
        asset_id,
        ad_group_id,
        campaign_id,
        advertiser_id,
        asset_type,
        asset_text,
        asset_format,
        launch_date
    from staging.assets
    where report_date between date_sub(@ds, interval {{ windows | max }} day) and @ds
    qualify row_number() over (partition by asset_id order by report_date desc) = 1
),

creative_map as ({{ f.composition("staging.creative_assets", windows) }}
),

creatives as (
    select
        creative_id,
        first_seen_date
    from staging.creative_snapshot
    where report_date = @ds
),

-- Industry and objective of the ad group as last reported (report rows carry them).
ad_group_attributes as (
    select
        ad_group_id,
        industry,
        campaign_objective
    from staging.ad_performance
    where report_date between date_sub(@ds, interval {{ windows | max }} day) and @ds
    qualify row_number() over (
        partition by ad_group_id
        order by report_date desc, medium asc, creative_id asc, device asc
    ) = 1
),

history as ({{ f.history("staging.ad_performance", windows) }}
),
{{- f.entity_trailing(windows) }}
{{- f.asset_trailing(windows) }}

launched as (
    select *
    from asset_library
    where launch_date <= @ds
),

combinations as (
    select
        headlines.advertiser_id,
        headlines.campaign_id,
        headlines.ad_group_id,
        headlines.asset_id as headline_asset_id,
        descriptions.asset_id as description_asset_id,
        images.asset_id as image_asset_id,
        images.asset_format as ad_format,
        length(headlines.asset_text) as headline_length,
        length(descriptions.asset_text) as description_length
    from launched as headlines
    inner join launched as descriptions
        on
            headlines.ad_group_id = descriptions.ad_group_id
            and descriptions.asset_type = 'DESCRIPTION'
    inner join launched as images
        on
            headlines.ad_group_id = images.ad_group_id
            and images.asset_type = 'IMAGE'
    where headlines.asset_type = 'HEADLINE'
),

-- The creative of a combination: a serving one first, should a combination be resubmitted.
combination_creatives as (
    select
        creative_id,
        headline_asset_id,
        description_asset_id,
        image_asset_id,
        status = 'ENABLED' as served
    from creative_map
    where launch_date <= @ds
    qualify row_number() over (
        partition by headline_asset_id, description_asset_id, image_asset_id
        order by status = 'ENABLED' desc, launch_date desc, creative_id desc
    ) = 1
),

combination_features as (
    select
        combinations.advertiser_id,
        combinations.campaign_id,
        combinations.ad_group_id,
        combinations.headline_asset_id,
        combinations.description_asset_id,
        combinations.image_asset_id,
        combination_creatives.creative_id,
        coalesce(combination_creatives.served, false) as served,
        ad_group_attributes.industry,
        ad_group_attributes.campaign_objective,
        combinations.ad_format,
        combinations.headline_length,
        combinations.description_length,
        coalesce(date_diff(@ds, creatives.first_seen_date, day), 0) as creative_age_days,
        {{- f.feature_columns(windows) }}
    from combinations
    left join combination_creatives
        on
            combinations.headline_asset_id = combination_creatives.headline_asset_id
            and combinations.description_asset_id = combination_creatives.description_asset_id
            and combinations.image_asset_id = combination_creatives.image_asset_id
    left join creatives on combination_creatives.creative_id = creatives.creative_id
    left join ad_group_attributes on combinations.ad_group_id = ad_group_attributes.ad_group_id
    {{- f.feature_joins("combination_creatives", "combinations", "combinations") }}
),

contexts as (
    {%- for context in params.contexts %}
    select
        '{{ context.medium }}' as medium,
        '{{ context.device }}' as device
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select
        @ds as scoring_date,
        @ds as report_date,
        contexts.medium,
        contexts.device,
        combination_features.*
    from combination_features
    cross join contexts
)

select * from final
