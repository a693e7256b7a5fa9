-- Creative compositions on one snapshot day (@ds): one row per creative launched on or before
-- @ds, across media (the latest ingestion wins), with its status on @ds. The raw partition is
-- listed as of the API's today (source_as_of, after @ds): its status is the status on that
-- day, and end_date (the first day not serving) is known once a creative has retired. So a
-- creative with an end date served on @ds exactly when @ds is before it; one without still
-- serves, or was removed without a date (its status as listed).
with source as (
    select
        medium,
        creative_id,
        ad_group_id,
        headline_asset_id,
        description_asset_id,
        image_asset_id,
        launch_date,
        end_date,
        status,
        source_job_id,
        ingested_at
    from raw.ad_creatives
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
        partition by creative_id
        order by ingested_at desc, medium asc, source_job_id desc
    ) = 1
),

final as (
    select
        -- keys
        @ds as report_date,
        latest.creative_id,
        latest.ad_group_id,
        -- composition
        latest.headline_asset_id,
        latest.description_asset_id,
        latest.image_asset_id,
        -- lifecycle on @ds
        latest.launch_date,
        case
            when latest.end_date is null then latest.status
            when @ds < latest.end_date then 'ENABLED'
            else 'REMOVED'
        end as status
    from latest
)

select * from final
