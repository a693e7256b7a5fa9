-- The top_k combinations per ad group, scoring context and slot for one scoring date (@ds),
-- by score; ties are broken by the asset ids so a re-run chooses the same combinations.
with scores as (
    select
        scoring_date,
        slot,
        model,
        variant,
        version,
        medium,
        device,
        ad_group_id,
        headline_asset_id,
        description_asset_id,
        image_asset_id,
        creative_id,
        served,
        score
    from scoring.combination_scores
    where scoring_date = @ds
),

ranked as (
    select
        *,
        row_number() over (
            partition by slot, medium, device, ad_group_id
            order by score desc, headline_asset_id asc, description_asset_id asc, image_asset_id asc
        ) as score_rank,
        count(*) over (partition by slot, medium, device, ad_group_id) as candidates
    from scores
),

final as (
    select
        scoring_date,
        slot,
        model,
        variant,
        version,
        medium,
        device,
        ad_group_id,
        score_rank,
        headline_asset_id,
        description_asset_id,
        image_asset_id,
        creative_id,
        served,
        score,
        candidates
    from ranked
    where score_rank <= {{ params.top_k }}
)

select * from final
