-- Model features per creative x medium x device x report date.
-- Trailing statistics use only days strictly before the row's report date (no leakage):
-- the serving side computes them the same way from the days it has seen.
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
        ad_format,
        headline,
        description,
        impressions,
        clicks,
        conversions
    from staging.ad_performance
    where report_date = date '{{ ds }}'
),

history as (
    select
        creative_id,
        ad_group_id,
        impressions,
        clicks,
        conversions
    from staging.ad_performance
    where
        report_date between date_sub(date '{{ ds }}', interval {{ params.trailing_days }} day)
        and date_sub(date '{{ ds }}', interval 1 day)
),

creative_trailing as (
    select
        creative_id,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(conversions) as conversions
    from history
    group by creative_id
),

ad_group_trailing as (
    select
        ad_group_id,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(conversions) as conversions
    from history
    group by ad_group_id
),

final as (
    select
        t.report_date,
        t.medium,
        t.advertiser_id,
        t.campaign_id,
        t.ad_group_id,
        t.creative_id,
        t.device,
        t.industry,
        t.campaign_objective,
        t.ad_format,
        length(t.headline) as headline_length,
        length(t.description) as description_length,
        coalesce(ct.impressions, 0) as creative_impressions_7d,
        safe_divide(ct.clicks, ct.impressions) as creative_ctr_7d,
        safe_divide(ct.conversions, ct.clicks) as creative_cvr_7d,
        coalesce(agt.impressions, 0) as ad_group_impressions_7d,
        safe_divide(agt.clicks, agt.impressions) as ad_group_ctr_7d,
        safe_divide(agt.conversions, agt.clicks) as ad_group_cvr_7d,
        t.impressions,
        t.clicks,
        t.conversions
    from today as t
    left join creative_trailing as ct on t.creative_id = ct.creative_id
    left join ad_group_trailing as agt on t.ad_group_id = agt.ad_group_id
)

select * from final
