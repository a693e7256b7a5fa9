-- CVR training examples as of the snapshot date. Conversions for day D keep arriving until
-- D's attribution window closes, so only report dates at least attribution_window_days old
-- are mature enough to label (label = conversions / clicks, weight = clicks).
with features as (
    select *
    from features.creative_daily
    where
        report_date between date_sub(
            @ds,
            interval {{ params.attribution_window_days + params.window_days - 1 }} day
        )
        and date_sub(@ds, interval {{ params.attribution_window_days }} day)
),

final as (
    select
        @ds as snapshot_date,
        *
    from features
    where clicks > 0
)

select * from final
