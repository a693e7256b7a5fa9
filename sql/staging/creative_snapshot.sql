-- The creative dimension as a daily snapshot (slowly changing): partition @ds holds every
-- creative seen in the lookback window with its attributes as of @ds, when it was first and
-- last seen, and since when its current attributes hold. Rebuilt from staging history, so a
-- backfilled date gives the same snapshot as the nightly run did.
with history as (
    select
        report_date,
        creative_id,
        ad_group_id,
        campaign_id,
        advertiser_id,
        headline,
        description,
        ad_format
    from staging.ad_performance
    where
        report_date between date_sub(@ds, interval {{ params.lookback_days - 1 }} day)
        and @ds
),

-- One attribute row per creative and day (a creative is reported per medium and device).
daily as (
    select *
    from history
    qualify row_number() over (
        partition by creative_id, report_date
        order by headline, description, ad_format
    ) = 1
),

latest as (
    select *
    from daily
    qualify row_number() over (partition by creative_id order by report_date desc) = 1
),

seen as (
    select
        creative_id,
        min(report_date) as first_seen_date,
        max(report_date) as last_seen_date
    from daily
    group by creative_id
),

-- The last day on which the creative carried other attributes than its latest ones.
last_changed as (
    select
        daily.creative_id,
        max(daily.report_date) as last_other_date
    from daily
    inner join latest on daily.creative_id = latest.creative_id
    where
        daily.headline is distinct from latest.headline
        or daily.description is distinct from latest.description
        or daily.ad_format is distinct from latest.ad_format
    group by daily.creative_id
),

attributes_since as (
    select
        daily.creative_id,
        min(daily.report_date) as attributes_since
    from daily
    left join last_changed on daily.creative_id = last_changed.creative_id
    where daily.report_date > coalesce(last_changed.last_other_date, date '0001-01-01')
    group by daily.creative_id
),

final as (
    select
        @ds as report_date,
        latest.creative_id,
        latest.ad_group_id,
        latest.campaign_id,
        latest.advertiser_id,
        latest.headline,
        latest.description,
        latest.ad_format,
        seen.first_seen_date,
        seen.last_seen_date,
        attributes_since.attributes_since
    from latest
    inner join seen on latest.creative_id = seen.creative_id
    inner join attributes_since on latest.creative_id = attributes_since.creative_id
)

select * from final
