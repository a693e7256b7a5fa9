-- Typed, deduplicated ad performance for one report date (@ds), cost in the reporting currency.
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
        placement,
        creative_id,
        headline,
        description,
        ad_format,
        label,
        device,
        impressions,
        clicks,
        conversions,
        cost_micros,
        currency,
        source_job_id,
        ingested_at
    from raw.ad_performance
    where partition_date = @ds
),

-- Rates from config/currencies.yaml; raw rows in other currencies never reach this layer.
fx_rates as (
    {%- for code, rate in fx_rates.items() %}
    select
        '{{ code }}' as currency,
        cast({{ rate }} as float64) as jpy_per_unit
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
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
        latest.report_date,
        latest.medium,
        latest.account_id,
        latest.advertiser_id,
        latest.campaign_id,
        latest.ad_group_id,
        latest.creative_id,
        latest.device,
        -- attributes
        latest.industry,
        latest.campaign_objective,
        latest.placement,
        latest.headline,
        latest.description,
        latest.ad_format,
        latest.label,
        -- measures
        latest.impressions,
        latest.clicks,
        latest.conversions,
        latest.currency,
        cast(latest.cost_micros as float64) / 1000000 as cost,
        cast(latest.cost_micros as float64) / 1000000 * fx_rates.jpy_per_unit as cost_jpy,
        -- audit
        latest.ingested_at
    from latest
    inner join fx_rates on latest.currency = fx_rates.currency
)

select * from final
