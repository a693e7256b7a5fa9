-- One look (@ds) of every experiment that has started by then: per unit that delivered, the
-- cumulative counts from the start through the look's day (the end at the latest), and the
-- unit's organic counts in its pre-period (CUPED's covariate). The experiments' windows come
-- from config/experiments.yaml.
with windows as (
    {%- for e in params.experiments %}
    select
        '{{ e.id }}' as experiment_id,
        date '{{ e.start }}' as start_date,
        date '{{ e.end }}' as end_date,
        date_sub(date '{{ e.start }}', interval {{ e.pre_period_days }} day) as pre_start
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not params.experiments %}
    select
        cast(null as string) as experiment_id,
        cast(null as date) as start_date,
        cast(null as date) as end_date,
        cast(null as date) as pre_start
    from unnest([1])
    where false
    {%- endif %}
),

started as (
    select
        experiment_id,
        start_date,
        least(end_date, @ds) as through_date,
        pre_start
    from windows
    where start_date <= @ds
),

delivered as (
    select
        started.experiment_id,
        unit_daily.arm,
        unit_daily.slot,
        unit_daily.unit_id,
        count(distinct unit_daily.report_date) as days,
        sum(unit_daily.impressions) as impressions,
        sum(unit_daily.clicks) as clicks,
        sum(unit_daily.conversions) as conversions
    from experiments.unit_daily
    inner join started on unit_daily.experiment_id = started.experiment_id
    where unit_daily.report_date between started.start_date and started.through_date
    group by started.experiment_id, unit_daily.arm, unit_daily.slot, unit_daily.unit_id
),

pre_period as (
    select
        started.experiment_id,
        performance.ad_group_id as unit_id,
        sum(performance.impressions) as pre_impressions,
        sum(performance.clicks) as pre_clicks,
        sum(performance.conversions) as pre_conversions
    from staging.ad_performance as performance
    inner join started
        on
            performance.report_date >= started.pre_start
            and performance.report_date < started.start_date
    where performance.label is null
    group by started.experiment_id, performance.ad_group_id
),

final as (
    select
        @ds as look_date,
        delivered.experiment_id,
        delivered.arm,
        delivered.slot,
        delivered.unit_id,
        count(*) over (partition by delivered.experiment_id, delivered.unit_id) as arms_seen,
        delivered.days,
        delivered.impressions,
        delivered.clicks,
        delivered.conversions,
        coalesce(pre_period.pre_impressions, 0) as pre_impressions,
        coalesce(pre_period.pre_clicks, 0) as pre_clicks,
        coalesce(pre_period.pre_conversions, 0) as pre_conversions
    from delivered
    left join pre_period
        on
            delivered.experiment_id = pre_period.experiment_id
            and delivered.unit_id = pre_period.unit_id
)

select * from final
