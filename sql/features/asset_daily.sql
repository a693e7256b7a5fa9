-- Trailing delivery of every asset (headline, description, image) for one report date (@ds):
-- the impressions, clicks and conversions of every creative that contains the asset, over
-- the trailing windows strictly before @ds (no leakage), across media and devices.
-- History rows are mapped to assets through staging.creative_assets: a creative's
-- composition never changes, so the newest partition on or before @ds maps every creative's
-- history, including creatives retired since (see macros/features.jinja `composition`).
-- One row per asset launched on or before @ds (0 without history). The creative features
-- compute the same numbers with the same macros (macros/features.jinja `asset_trailing`).
{%- import "macros/features.jinja" as f %}
{%- set windows = params.trailing_windows %}
with asset_library as (
    select
        asset_id,
        asset_type,
        ad_group_id,
        launch_date
    from staging.assets
    where report_date between date_sub(@ds, interval {{ windows | max }} day) and @ds
    qualify row_number() over (partition by asset_id order by report_date desc) = 1
),

creative_map as ({{ f.composition("staging.creative_assets", windows) }}
),

history as ({{ f.history("staging.ad_performance", windows) }}
),

creative_trailing as ({{ f.trailing("creative_id", windows) }}
),
{{- f.asset_trailing(windows, pairs=false) }}

final as (
    select
        @ds as report_date,
        asset_library.asset_id,
        asset_library.asset_type,
        asset_library.ad_group_id,
        {{- f.counts_or_zero("asset_stats", windows) }}
    from asset_library
    left join asset_stats on asset_library.asset_id = asset_stats.asset_id
    where asset_library.launch_date <= @ds
)

select * from final
