-- The asset library on one snapshot day (@ds): one row per asset launched on or before @ds,
-- across media. Every medium lists the same library of an ad group; when pulls disagree the
-- latest ingestion wins. The raw partition holds the library as the API listed it on its
-- own today (after @ds; much later for a backfill), so assets launched after @ds are left out.
with source as (
    select
        medium,
        asset_id,
        ad_group_id,
        campaign_id,
        advertiser_id,
        asset_type,
        asset_text,
        asset_format,
        launch_date,
        source_job_id,
        ingested_at
    from raw.ad_assets
    where snapshot_date = @ds
),

launched as (
    select *
    from source
    where launch_date <= @ds
),

latest as (
    select *
    from launched
    qualify row_number() over (
        partition by asset_id
        order by ingested_at desc, medium asc, source_job_id desc
    ) = 1
),

final as (
    select
        -- keys
        @ds as report_date,
        latest.asset_id,
        latest.ad_group_id,
        latest.campaign_id,
        latest.advertiser_id,
        -- attributes
        latest.asset_type,
        latest.asset_text,
        length(latest.asset_text) as text_length,
        latest.asset_format,
        latest.launch_date
    from latest
)

select * from final
