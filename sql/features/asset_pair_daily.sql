-- Trailing delivery of every headline x image pair of an ad group that some creative
-- contains, for one report date (@ds): the impressions, clicks and conversions of every
-- creative with that headline and that image, over the trailing windows strictly before
-- @ds (no leakage), across media and devices. History rows are mapped to assets through
-- staging.creative_assets: a creative's composition never changes, so the newest partition
-- on or before @ds is right (see macros/features.jinja `composition`).
-- One row per pair of a creative launched on or before @ds (0 without history).
{%- import "macros/features.jinja" as f %}
{%- set windows = params.trailing_windows %}
with creative_map as ({{ f.composition("staging.creative_assets", windows) }}
),

history as ({{ f.history("staging.ad_performance", windows) }}
),

creative_trailing as ({{ f.trailing("creative_id", windows) }}
),
{{- f.asset_trailing(windows, assets=false) }}

pairs as (
    select distinct
        ad_group_id,
        headline_asset_id,
        image_asset_id
    from creative_map
    where launch_date <= @ds
),

final as (
    select
        @ds as report_date,
        pairs.ad_group_id,
        pairs.headline_asset_id,
        pairs.image_asset_id,
        {{- f.counts_or_zero("pair_stats", windows) }}
    from pairs
    left join pair_stats
        on
            pairs.headline_asset_id = pair_stats.headline_asset_id
            and pairs.image_asset_id = pair_stats.image_asset_id
)

select * from final
