-- Delivery of the experiment loop's creatives on one report date (@ds), joined back to the
-- tracking ids they were submitted with (the label the medium reports is the tracking id):
-- one row per experiment, arm and unit. A label of the loop that no tracking id of that
-- serving day explains keeps its row with a null experiment, which fails the gate.
with delivery as (
    select
        report_date,
        ad_group_id,
        label,
        impressions,
        clicks,
        conversions
    from staging.ad_performance
    where
        report_date = @ds
        and starts_with(label, 'abn.')
),

tracking as (
    select
        tracking_id,
        experiment_id,
        arm,
        slot,
        unit_id
    from experiments.tracking_ids
    where serve_date = @ds
),

joined as (
    select
        delivery.report_date,
        delivery.label,
        delivery.impressions,
        delivery.clicks,
        delivery.conversions,
        tracking.experiment_id,
        tracking.arm,
        tracking.slot,
        coalesce(tracking.unit_id, delivery.ad_group_id) as unit_id,
        coalesce(tracking.unit_id != delivery.ad_group_id, false) as unit_mismatch
    from delivery
    left join tracking on delivery.label = tracking.tracking_id
),

final as (
    select
        report_date,
        experiment_id,
        arm,
        slot,
        unit_id,
        count(distinct label) as tracking_ids,
        countif(unit_mismatch) as unit_mismatches,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(conversions) as conversions
    from joined
    group by report_date, experiment_id, arm, slot, unit_id
)

select * from final
