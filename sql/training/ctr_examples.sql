-- CTR training examples as of the snapshot date: every feature row of the rolling window
-- with at least one impression (label = clicks / impressions, weight = impressions).
with features as (
    select *
    from features.creative_daily
    where
        report_date between date_sub(@ds, interval {{ params.window_days - 1 }} day)
        and @ds
),

final as (
    select
        @ds as snapshot_date,
        *
    from features
    where impressions > 0
)

select * from final
