-- Model features per creative x medium x device for one report date (@ds).
-- Trailing statistics of the creative, its ad group and its advertiser use only days
-- strictly before @ds (no leakage): serving computes them the same way from the days it has.
-- The loops below expand to one column per level x window x statistic (see the .yml).
{%- set levels = ["creative", "ad_group", "advertiser"] %}
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

history as (
    select
        report_date,
        creative_id,
        ad_group_id,
        advertiser_id,
        impressions,
        clicks,
        conversions
    from staging.ad_performance
    where
        report_date between date_sub(@ds, interval {{ windows | max }} day)
        and date_sub(@ds, interval 1 day)
),
{%- for level in levels %}

{{ level }}_trailing as (
    select
        {%- for w in windows %}
        {%- for stat in ["impressions", "clicks", "conversions"] %}
        sum(
            if(report_date >= date_sub(@ds, interval {{ w }} day), {{ stat }}, 0)
        ) as {{ stat }}_{{ w }}d,
        {%- endfor %}
        {%- endfor %}
        {{ level }}_id
    from history
    group by {{ level }}_id
),
{%- endfor %}

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
        {%- for level in levels %}
        {%- for w in windows %}
        coalesce({{ level }}_trailing.impressions_{{ w }}d, 0) as {{ level }}_impressions_{{ w }}d,
        safe_divide(
            {{ level }}_trailing.clicks_{{ w }}d, {{ level }}_trailing.impressions_{{ w }}d
        ) as {{ level }}_ctr_{{ w }}d,
        safe_divide(
            {{ level }}_trailing.conversions_{{ w }}d, {{ level }}_trailing.clicks_{{ w }}d
        ) as {{ level }}_cvr_{{ w }}d,
        {%- endfor %}
        {%- endfor %}
        today.impressions,
        today.clicks,
        today.conversions
    from today
    left join creatives on today.creative_id = creatives.creative_id
    {%- for level in levels %}
    left join {{ level }}_trailing on today.{{ level }}_id = {{ level }}_trailing.{{ level }}_id
    {%- endfor %}
)

select * from final
