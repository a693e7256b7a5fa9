-- Typed, deduplicated ad performance for one report date.
-- The raw partition is replaced whole on every load, but a medium can deliver the same key
-- twice (duplicated pages, overlapping jobs): the latest ingestion of a key wins.
with source as (
    select
        report_date,
        medium,
        account_id,
        advertiser_id,
        industry,
        campaign_id,
        campaign_objective,
        ad_group_id,
        creative_id,
        headline,
        description,
        ad_format,
        device,
        impressions,
        clicks,
        conversions,
        cost_micros,
        currency,
        source_job_id,
        ingested_at
    from raw.ad_performance
    where report_date = date '{{ ds }}'
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by medium, creative_id, device
        order by ingested_at desc, source_job_id desc
    ) = 1
),

final as (
    select
        -- keys
        report_date,
        medium,
        account_id,
        advertiser_id,
        campaign_id,
        ad_group_id,
        creative_id,
        device,
        -- attributes
        industry,
        campaign_objective,
        headline,
        description,
        ad_format,
        -- measures
        impressions,
        clicks,
        conversions,
        cast(cost_micros as float64) / 1000000 as cost,
        currency,
        -- audit
        ingested_at
    from latest
)

select * from final
