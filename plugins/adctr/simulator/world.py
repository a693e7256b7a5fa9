"""A deterministic ad world: entities from a seed, daily counts drawn from known true rates.

Entities: advertisers (industry) > campaigns (objective) > ad groups (placement) > assets >
creatives. Each ad group has an asset library (assets.py): headlines (the creative's
AD_TITLE), descriptions (AD_DESCRIPTION) and images (each with a format, the creative's
AD_TYPE). Most assets exist before start_date; a share (`new_asset_share`) launches on days
spread over the horizon. A share of the ad groups (`new_ad_group_share`) launches during the
horizon too, its whole library on or after its launch day. A creative is one combination (headline h, description d, image i)
of its ad group's launched assets. Each ad group serves `creatives_per_ad_group` creatives
at once; each retires after a lifetime (uniform in 0.5..1.5 x `creative_lifetime_days`) and a
combination the ad group never used before takes its place the same day: each of its assets
is drawn, with chance `explore_share`, from the whole library (often one never served), else
from the assets the ad group already served. So creatives launch steadily
(creatives_per_ad_group / creative_lifetime_days per ad group per day), mostly as new
combinations of assets with a history, sometimes with new ones, and the active count stays
put. A creative serves on every medium and device from its launch day until the day it
retires.

Generative model, per combination (h, d, i) of ad group g, medium m, device v, day t
(age = days since the creative launched; a combination that is not serving is scored as a
new creative, age 0):

    logit CTR = ctr0 + medium[m] + device[v] + format[i] + industry[g] + placement[g]
                + advertiser_ctr[a](t) + ad_group_ctr[g](t)
                + length_slope * (headline_length[h] - 12) + weekday_ctr[t]
                + effect_ctr[h](t) + effect_ctr[d](t) + effect_ctr[i](t) + pair_ctr[h, i]
                + combination_ctr(h, d, i) - fatigue * log1p(age / 7)
    logit CVR = cvr0 + industry[g] + objective[g] + device[v] + placement[g]
                + advertiser_cvr[a](t) + ad_group_cvr[g](t)
                + effect_cvr[h](t) + effect_cvr[d](t) + effect_cvr[i](t) + pair_cvr[h, i]
                + combination_cvr(h, d, i)
    impressions ~ Poisson(volume[c] * medium_share[m] * device_share[v] * weekday_volume[t])
    clicks      ~ Binomial(impressions, CTR)
    conversions ~ Binomial(clicks, CVR)
    delay_k     ~ Multinomial(conversions, delay_weights)   k = 0 .. attribution_window - 1

The latent terms are what no reported attribute reveals, as in real ads (sds in
config/simulator.yaml `effect_sd`). The advertiser's and the ad group's own levels (brand,
landing page) are shared by all their creatives, so a creative of new assets can be learned
from its ad group's and advertiser's history. Asset effects carry most of the rest and are
shared by every creative of the ad group that uses the asset, so a new creative's rates can be
learned from its assets' history; the (headline, image) pair effect and the per-combination
residual (a hash of the seed and the three asset ids, so any combination has a truth) are
smaller and can only come from the pair's or the creative's own history. Asset effects DRIFT:
a mean-reverting random walk at weekly knots, linear in between (assets.AssetLibrary), so old
history goes stale; the advertiser and ad-group levels may drift too
(`level_drift_sd_per_sqrt_week`), all of their combinations together. `fatigue` makes every
creative's CTR decay with age.

Delayed feedback: a conversion of day D with delay k is reported from day D + 1 + k on; the
report for D is final (never restated again) from D + attribution_window on.

Draws for one (medium, day) come from their own RNG stream, so any day is reproducible alone
and independent of which other days were asked for; the entities and latent effects come from
the seed alone.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from adctr.simulator.assets import (
    ASSET_KEYS,
    ASSET_PREFIX,
    ASSET_TYPES,
    AssetLibrary,
    EffectSds,
    drifting_levels,
    schedule_creatives,
    stream_seed,
)

INDUSTRIES = ("finance", "travel", "retail", "games", "education")
INDUSTRY_CTR = (-0.25, 0.10, 0.15, 0.30, -0.10)
INDUSTRY_CVR = (-0.40, 0.05, 0.30, -0.10, 0.10)
OBJECTIVES = ("traffic", "conversions")
OBJECTIVE_CVR = (-0.30, 0.35)
PLACEMENTS = ("search", "display", "feed")
PLACEMENT_CTR = (0.35, -0.30, 0.0)
PLACEMENT_CVR = (0.20, -0.25, 0.0)
FORMATS = ("text", "image", "video")
FORMAT_CTR = (-0.20, 0.05, 0.25)
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_SHARE = (0.62, 0.28, 0.10)
DEVICE_CTR = (0.15, -0.10, -0.05)
DEVICE_CVR = (-0.15, 0.25, 0.0)
MEDIUM_CTR = {"yahoo_ads": 0.0, "google_ads": 0.20, "meta": -0.15}
MEDIUM_SHARE = {"yahoo_ads": 1.0, "google_ads": 1.2, "meta": 0.8}
CPC_YEN = {"yahoo_ads": 45.0, "google_ads": 60.0, "meta": 38.0}
WEEKDAY_CTR = (0.0, 0.02, 0.03, 0.02, -0.02, 0.08, 0.10)  # Monday..Sunday
WEEKDAY_VOLUME = (1.0, 1.02, 1.03, 1.0, 0.97, 0.85, 0.82)
CTR0 = -3.6  # ~2.7% base CTR
CVR0 = -3.0  # ~4.7% base CVR
LENGTH_SLOPE = -0.02  # shorter headlines draw slightly more clicks


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _date32(ordinals: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    days = (np.asarray(ordinals, dtype=np.int64) - date(1970, 1, 1).toordinal()).astype(np.int32)
    return pa.array(days, pa.date32(), mask=None if valid is None else ~valid)


@dataclass(frozen=True)
class DayDraw:
    """Everything drawn for one (medium, day): the rows, their truth, and conversion delays."""

    medium: str
    day: date
    creative_index: np.ndarray  # into World arrays, one per row
    device_index: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    conversions_by_delay: np.ndarray  # shape (rows, attribution_window)
    cost_sen: np.ndarray  # cost in 1/100 yen (exact decimal with two places)
    true_ctr: np.ndarray
    true_cvr: np.ndarray

    def conversions_as_of(self, today: date) -> np.ndarray:
        """Conversions reported for this day when the report is pulled on `today`."""
        visible = max(0, min((today - self.day).days, self.conversions_by_delay.shape[1]))
        return self.conversions_by_delay[:, :visible].sum(axis=1)


class World:
    """Entities, assets, creatives and true rates for one seed; deterministic, vectorised."""

    def __init__(
        self,
        seed: int,
        media: tuple[str, ...],
        *,
        advertisers: int,
        campaigns_per_advertiser: int,
        ad_groups_per_campaign: int,
        assets_per_ad_group: dict[str, int],
        creatives_per_ad_group: int,
        creative_lifetime_days: float,
        explore_share: float,
        new_asset_share: float,
        history_days: int,
        horizon_days: int,
        mean_daily_impressions: float,
        start_date: date | str,
        fatigue_per_log_week: float,
        effect_sd: dict[str, dict[str, float]],
        drift_sd_per_sqrt_week: float,
        new_ad_group_share: float = 0.0,
        level_drift_sd_per_sqrt_week: float = 0.0,
        account_id: str = "1001",
        attribution_window_days: int = 7,
        conversion_delay_weights: tuple[float, ...] = (0.45, 0.2, 0.12, 0.08, 0.06, 0.05, 0.04),
    ) -> None:
        self.seed = seed
        self.media = tuple(media)
        self.account_id = account_id
        self.start_date = date.fromisoformat(str(start_date))
        self.fatigue = float(fatigue_per_log_week)
        if not 0.0 <= level_drift_sd_per_sqrt_week < 1.0:
            raise ValueError("level_drift_sd_per_sqrt_week is in units of the level's sd: 0 <= it < 1")
        weights = np.asarray(conversion_delay_weights, dtype=float)
        if len(weights) != attribution_window_days or (weights < 0).any():
            raise ValueError(
                f"conversion_delay_weights needs {attribution_window_days} non-negative weights "
                f"(one per day of the attribution window), got {list(conversion_delay_weights)}"
            )
        self.attribution_window_days = int(attribution_window_days)
        self.delay_weights = weights / weights.sum()
        longest_first_life = round(1.5 * creative_lifetime_days)
        if history_days <= longest_first_life:
            raise ValueError(
                f"history_days ({history_days}) must exceed 1.5 x creative_lifetime_days "
                f"({longest_first_life}): the assets of the creatives serving on start_date "
                "launch before them"
            )

        rng = np.random.default_rng(stream_seed(seed, "world"))
        n_adv = advertisers
        n_cmp = n_adv * campaigns_per_advertiser
        n_grp = n_cmp * ad_groups_per_campaign
        grp_cmp = np.arange(n_grp) // ad_groups_per_campaign
        grp_adv = grp_cmp // campaigns_per_advertiser
        self.group_industry = rng.integers(len(INDUSTRIES), size=n_adv)[grp_adv]
        self.group_objective = rng.integers(len(OBJECTIVES), size=n_cmp)[grp_cmp]
        self.group_placement = rng.integers(len(PLACEMENTS), size=n_grp)

        start = self.start_date.toordinal()
        if not 0.0 <= new_ad_group_share <= 1.0:
            raise ValueError(f"new_ad_group_share is a share: 0 <= it <= 1, got {new_ad_group_share}")
        # Ad groups that launch during the horizon (their own stream, so a seed's other draws stay
        # put): the first of each campaign is always there from the start, so every advertiser
        # has history; a new one's whole library launches on or after its day.
        lrng = np.random.default_rng(stream_seed(seed, "ad_group_launch"))
        is_new_group = (lrng.random(n_grp) < new_ad_group_share) & (
            np.arange(n_grp) % ad_groups_per_campaign > 0
        )
        launch_day = start + lrng.integers(1, max(2, int(horizon_days) + 1), size=n_grp)
        self.group_launch_ordinal = np.where(is_new_group, launch_day, np.iinfo(np.int64).min)
        ctr_sd, cvr_sd = (EffectSds.from_config(effect_sd[m]) for m in ("ctr", "cvr"))
        self.assets = AssetLibrary(
            np.random.default_rng(stream_seed(seed, "assets")),
            n_grp,
            tuple(int(assets_per_ad_group[k]) for k in ASSET_KEYS),  # type: ignore[arg-type]
            first_ordinal=start - int(history_days),
            last_old_ordinal=start - longest_first_life - 1,
            start_ordinal=start,
            horizon_days=int(horizon_days),
            new_asset_share=float(new_asset_share),
            ctr_sd=ctr_sd,
            cvr_sd=cvr_sd,
            drift_sd_per_sqrt_week=float(drift_sd_per_sqrt_week),
            always_old=math.ceil((2 * creatives_per_ad_group) ** (1 / 3)),
            group_launch_ordinal=self.group_launch_ordinal,
        )
        crng = np.random.default_rng(stream_seed(seed, "creatives"))
        self.creatives = schedule_creatives(
            crng, self.assets, n_grp, int(creatives_per_ad_group), float(creative_lifetime_days),
            start, int(horizon_days), float(explore_share), self.group_launch_ordinal,
        )  # fmt: skip
        cr = self.creatives
        n = len(cr.group)
        self.volume = mean_daily_impressions * crng.lognormal(0.0, 0.6, size=n)
        self.launch_ordinal = cr.launch_ordinal
        self.end_ordinal = cr.end_ordinal

        # Ids and per-creative attributes (what the report rows show).
        adv_ids = [f"adv{a + 1:03d}" for a in range(n_adv)]
        cmp_ids = [f"{adv_ids[c // campaigns_per_advertiser]}-cmp{c % campaigns_per_advertiser + 1}"
                   for c in range(n_cmp)]  # fmt: skip
        grp_ids = [
            f"{cmp_ids[grp_cmp[g]]}-ag{g % ad_groups_per_campaign + 1}" for g in range(n_grp)
        ]
        self.group_ids = pa.array(grp_ids)
        self.group_campaign_ids = pa.array(cmp_ids).take(pa.array(grp_cmp))
        self.group_advertiser_ids = pa.array(adv_ids).take(pa.array(grp_adv))
        self._group_index = {g: i for i, g in enumerate(grp_ids)}
        lib = self.assets
        self.asset_ids = pa.array(
            [
                f"{grp_ids[g]}-{ASSET_PREFIX[t]}{k}"
                for g, t, k in zip(lib.group, lib.type, lib.number)
            ]
        )
        self._asset_order = pc.sort_indices(self.asset_ids).to_numpy()
        self.asset_texts = pa.array(lib.text, pa.string())
        self.creative_ids = pa.array([f"{grp_ids[g]}-cr{k}" for g, k in zip(cr.group, cr.number)])
        self._creative_order = pc.sort_indices(self.creative_ids).to_numpy()
        self.industry = self.group_industry[cr.group]
        self.objective = self.group_objective[cr.group]
        self.placement = self.group_placement[cr.group]
        self.format = lib.format[cr.image]
        self.headline_length = lib.length[cr.headline]
        grp = pa.array(cr.group)
        self.advertiser_ids = self.group_advertiser_ids.take(grp)
        self.campaign_ids = self.group_campaign_ids.take(grp)
        self.ad_group_ids = self.group_ids.take(grp)
        self.headlines = self.asset_texts.take(pa.array(cr.headline))
        self.descriptions = self.asset_texts.take(pa.array(cr.description))
        # Static terms folded per asset: the ad group's on its headlines, format on images.
        is_h, is_i = lib.type == 0, lib.type == 2
        ag = lib.group
        self._static_ctr = np.where(
            is_h,
            np.take(INDUSTRY_CTR, self.group_industry[ag]) + np.take(PLACEMENT_CTR, self.group_placement[ag])
            + LENGTH_SLOPE * (lib.length - 12),
            0.0,
        ) + np.where(is_i, np.take(FORMAT_CTR, lib.format), 0.0)  # fmt: skip
        self._static_cvr = np.where(
            is_h,
            np.take(INDUSTRY_CVR, self.group_industry[ag]) + np.take(OBJECTIVE_CVR, self.group_objective[ag])
            + np.take(PLACEMENT_CVR, self.group_placement[ag]),
            0.0,
        )  # fmt: skip
        # Latent advertiser and ad-group levels (their own streams, so the other draws of a seed
        # stay put), added onto the headline like the ad group's static terms. Constant, and
        # folded in once, unless they drift (promotions, seasonality: every creative of the
        # advertiser moves together), in which case they are added per day (`_statics`).
        grng = np.random.default_rng(stream_seed(seed, "groups"))
        starts = [
            (grng.normal(0.0, sd.advertiser, n_adv), grng.normal(0.0, sd.ad_group, n_grp))
            for sd in (ctr_sd, cvr_sd)
        ]
        self._level_drift = float(level_drift_sd_per_sqrt_week)
        self._is_headline, self._asset_group = is_h, ag
        if self._level_drift == 0.0:
            for static, (adv, own) in zip((self._static_ctr, self._static_cvr), starts):
                static += np.where(is_h, (adv[grp_adv] + own)[ag], 0.0)
        else:
            drng = np.random.default_rng(stream_seed(seed, "level_drift"))
            weeks = lib.knots_ctr.shape[0]
            self._level_knots = tuple(
                drifting_levels(drng, adv, sd.advertiser, weeks, self._level_drift)[:, grp_adv]
                + drifting_levels(drng, own, sd.ad_group, weeks, self._level_drift)
                for (adv, own), sd in zip(starts, (ctr_sd, cvr_sd))
            )
        codes = lib.combination_code(cr.headline, cr.description, cr.image)
        self._code_order = np.argsort(codes)
        self._sorted_codes = codes[self._code_order]

    @property
    def size(self) -> int:
        return len(self.volume)

    def knows_medium(self, medium: str) -> bool:
        return medium in self.media

    def active(self, day: date) -> np.ndarray:
        """Indices of creatives serving on `day` (launched on or before it, not yet retired)."""
        t = day.toordinal()
        return np.flatnonzero((self.launch_ordinal <= t) & (t < self.end_ordinal))

    def _rates(
        self,
        medium: str,
        day: date,
        device: np.ndarray | int,
        latent: tuple[np.ndarray, np.ndarray],
        age: np.ndarray | int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """True (CTR, CVR) from the latent logits (with the per-asset static terms folded in,
        see `_latent`) at the given ages."""
        logit_ctr, logit_cvr = latent
        logit_ctr += CTR0 + MEDIUM_CTR.get(medium, 0.0) + WEEKDAY_CTR[day.weekday()]
        logit_ctr += np.take(DEVICE_CTR, device)
        if np.any(age):
            logit_ctr -= self.fatigue * np.log1p(np.asarray(age) / 7.0)
        logit_cvr += CVR0 + np.take(DEVICE_CVR, device)
        return _sigmoid(logit_ctr), _sigmoid(logit_cvr)

    def _statics(self, ordinal: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-asset static terms on one day: with drifting levels, each ad group's level of
        that day (linear between weekly knots) is added onto its headlines."""
        if self._level_drift == 0.0:
            return self._static_ctr, self._static_cvr
        ctr, cvr = (
            static + np.where(self._is_headline, self.assets.at(knots, ordinal)[self._asset_group], 0)
            for static, knots in zip((self._static_ctr, self._static_cvr), self._level_knots)
        )
        return ctr, cvr

    def _latent(
        self, day: date, h: np.ndarray, d: np.ndarray, i: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        t = day.toordinal()
        return self.assets.latent(t, self.seed, h, d, i, *self._statics(t))

    def true_rates(
        self, medium: str, day: date, creative: np.ndarray, device: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """True (CTR, CVR) for arrays of creative and device indices on one day."""
        cr = self.creatives
        age = np.maximum(0, day.toordinal() - self.launch_ordinal[creative])
        latent = self._latent(
            day, cr.headline[creative], cr.description[creative], cr.image[creative]
        )
        return self._rates(medium, day, device, latent, age)

    def draw(self, medium: str, day: date) -> DayDraw:
        """All rows of one medium and day (vectorised; same result on every call)."""
        if not self.knows_medium(medium):
            raise KeyError(medium)
        active = self.active(day)
        creative = np.repeat(active, len(DEVICES))
        device = np.tile(np.arange(len(DEVICES)), len(active))
        ctr, cvr = self.true_rates(medium, day, creative, device)
        lam = (
            self.volume[creative]
            * MEDIUM_SHARE.get(medium, 1.0)
            * np.take(DEVICE_SHARE, device)
            * WEEKDAY_VOLUME[day.weekday()]
        )
        rng = np.random.default_rng(stream_seed(self.seed, medium, day.isoformat()))
        impressions = rng.poisson(lam)
        clicks = rng.binomial(impressions, ctr)
        conversions = rng.binomial(clicks, cvr)
        cost_sen = np.rint(
            clicks * CPC_YEN.get(medium, 50.0) * 100 * rng.uniform(0.8, 1.2, size=len(clicks))
        )
        by_delay = rng.multinomial(conversions, self.delay_weights)
        return DayDraw(
            medium=medium, day=day, creative_index=creative, device_index=device,
            impressions=impressions.astype(np.int64), clicks=clicks.astype(np.int64),
            conversions_by_delay=by_delay.astype(np.int64), cost_sen=cost_sen.astype(np.int64),
            true_ctr=ctr, true_cvr=cvr,
        )  # fmt: skip

    def final_day(self, day: date) -> date:
        """The first day on which the report for `day` is final."""
        return day + timedelta(days=self.attribution_window_days)

    def ground_truth(self, medium: str, day: date) -> pa.Table:
        """True rates and final counts per creative x device for one day (the answer key)."""
        d = self.draw(medium, day)
        return pa.table(
            {
                "report_date": pa.array([day] * len(d.impressions), pa.date32()),
                "medium": pa.array([medium] * len(d.impressions)),
                "creative_id": self.creative_ids.take(pa.array(d.creative_index)),
                "device": pa.array(DEVICES).take(pa.array(d.device_index)),
                "impressions": d.impressions,
                "clicks": d.clicks,
                "conversions": d.conversions_by_delay.sum(axis=1),
                "true_ctr": d.true_ctr,
                "true_cvr": d.true_cvr,
            }
        )

    # Assets, creatives and the truth of any combination.

    def asset_table(self, day: date) -> pa.Table:
        """The assets launched on or before `day`, ordered by asset_id."""
        lib = self.assets
        order = self._asset_order[lib.launch_ordinal[self._asset_order] <= day.toordinal()]
        idx = pa.array(order)
        is_image = lib.type[order] == 2
        return pa.table(
            {
                "asset_id": self.asset_ids.take(idx),
                "ad_group_id": self.group_ids.take(pa.array(lib.group[order])),
                "campaign_id": self.group_campaign_ids.take(pa.array(lib.group[order])),
                "advertiser_id": self.group_advertiser_ids.take(pa.array(lib.group[order])),
                "asset_type": pa.array(ASSET_TYPES).take(pa.array(lib.type[order])),
                "asset_text": self.asset_texts.take(idx),
                "asset_format": pa.array(FORMATS).take(pa.array(lib.format[order], mask=~is_image)),
                "launch_date": _date32(lib.launch_ordinal[order]),
            }
        )

    def creative_table(self, day: date) -> pa.Table:
        """Every creative launched on or before `day`, ordered by creative_id. end_date is the
        day it retired (null while it serves: the API does not know the future); status is
        ENABLED if it serves on `day`, else REMOVED."""
        t = day.toordinal()
        cr = self.creatives
        order = self._creative_order[cr.launch_ordinal[self._creative_order] <= t]
        retired = cr.end_ordinal[order] <= t
        ends = np.where(retired, cr.end_ordinal[order], 0)
        return pa.table(
            {
                "creative_id": self.creative_ids.take(pa.array(order)),
                "ad_group_id": self.group_ids.take(pa.array(cr.group[order])),
                "headline_asset_id": self.asset_ids.take(pa.array(cr.headline[order])),
                "description_asset_id": self.asset_ids.take(pa.array(cr.description[order])),
                "image_asset_id": self.asset_ids.take(pa.array(cr.image[order])),
                "launch_date": _date32(cr.launch_ordinal[order]),
                "end_date": _date32(ends, valid=retired),
                "status": pa.array(np.where(retired, "REMOVED", "ENABLED").tolist(), pa.string()),
            }
        )

    def _groups(self, ad_group_ids: list[str] | None) -> np.ndarray:
        if ad_group_ids is None:
            return np.arange(len(self.group_ids))
        unknown = [g for g in ad_group_ids if g not in self._group_index]
        if unknown:
            raise KeyError(f"unknown ad groups {unknown[:5]}")
        return np.array([self._group_index[g] for g in ad_group_ids], dtype=np.int64)

    def _device(self, device: str) -> int:
        if device not in DEVICES:
            raise KeyError(f"unknown device {device!r}; devices are {list(DEVICES)}")
        return DEVICES.index(device)

    def _creative_of(self, day: date, h: np.ndarray, d: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Creative index of each combination launched as a creative on or before `day`, else -1."""
        codes = self.assets.combination_code(h, d, i)
        pos = np.minimum(
            np.searchsorted(self._sorted_codes, codes), max(0, len(self._sorted_codes) - 1)
        )
        found = (
            self._sorted_codes[pos] == codes
            if len(self._sorted_codes)
            else np.zeros(len(codes), bool)
        )
        creative = np.where(found, self._code_order[pos], -1)
        launched = creative >= 0
        launched[launched] = self.launch_ordinal[creative[launched]] <= day.toordinal()
        return np.where(launched, creative, -1)

    def combination_arrays(
        self, day: date, medium: str, device: str, ad_group_ids: list[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(h, d, i, true_ctr, true_cvr) of every combination of launched assets (global asset
        indices, ordered by ad group, h, d, i), scored as new creatives (age 0)."""
        groups = self._groups(ad_group_ids)
        device_index = self._device(device)
        t = day.toordinal()
        lat_ctr, lat_cvr, _, (h, d, i) = self.assets.grid_latent(
            t, self.seed, groups, *self._statics(t)
        )
        ctr, cvr = self._rates(medium, day, device_index, (lat_ctr, lat_cvr), 0)
        return h, d, i, ctr, cvr

    def combination_truth(
        self, day: date, medium: str, device: str, ad_group_ids: list[str] | None = None
    ) -> pa.Table:
        """Every combination of launched assets per ad group with its true rates at age 0. The
        id columns are dictionary-encoded strings (12 M rows in seconds and ~0.4 GB instead of
        ~1.3 GB); `table.cast` to plain strings if a consumer needs them."""
        h, d, i, ctr, cvr = self.combination_arrays(day, medium, device, ad_group_ids)
        creative = self._creative_of(day, h, d, i)

        def ids(index: np.ndarray, values: pa.Array, mask: np.ndarray | None = None) -> pa.Array:
            return pa.DictionaryArray.from_arrays(
                pa.array(index.astype(np.int32), mask=mask), values
            )

        return pa.table(
            {
                "ad_group_id": ids(self.assets.group[h], self.group_ids),
                "headline_asset_id": ids(h, self.asset_ids),
                "description_asset_id": ids(d, self.asset_ids),
                "image_asset_id": ids(i, self.asset_ids),
                "creative_id": ids(np.maximum(creative, 0), self.creative_ids, creative < 0),
                "true_ctr": ctr,
                "true_cvr": cvr,
            }
        )

    def asset_index(self, asset_ids: list[str] | pa.Array, asset_type: str) -> np.ndarray:
        """Global indices of asset ids of one type; KeyError names any unknown id."""
        idx = pc.index_in(pa.array(asset_ids, pa.string()), value_set=self.asset_ids).to_numpy(
            zero_copy_only=False
        )
        bad = np.isnan(idx) if idx.dtype.kind == "f" else np.zeros(len(idx), bool)
        idx = np.nan_to_num(idx, nan=0).astype(np.int64)
        bad |= self.assets.type[idx] != ASSET_TYPES.index(asset_type)
        if bad.any():
            first = pa.array(asset_ids, pa.string())[int(np.flatnonzero(bad)[0])].as_py()
            raise KeyError(
                f"{bad.sum()} ids are not {asset_type} assets of this world, e.g. {first!r}"
            )
        return idx

    def combination_rates(
        self,
        day: date,
        medium: str,
        device: str,
        headline_asset_ids: list[str] | pa.Array,
        description_asset_ids: list[str] | pa.Array,
        image_asset_ids: list[str] | pa.Array,
    ) -> tuple[np.ndarray, np.ndarray]:
        """True (CTR, CVR) of given combinations as new creatives (age 0) on `day`."""
        h = self.asset_index(headline_asset_ids, "HEADLINE")
        d = self.asset_index(description_asset_ids, "DESCRIPTION")
        i = self.asset_index(image_asset_ids, "IMAGE")
        g = self.assets.group
        if ((g[h] != g[d]) | (g[h] != g[i])).any():
            raise KeyError("a combination's three assets must belong to one ad group")
        return self._rates(medium, day, self._device(device), self._latent(day, h, d, i), 0)

    def combination_summary(
        self, day: date, medium: str, device: str, metric: str = "ctr"
    ) -> list[dict[str, Any]]:
        """Per ad group: the best combination by true `metric` (ctr or cvr, at age 0), the mean
        true rate of its combinations (a uniformly random choice's expectation), and the true
        rate of the creatives serving `day` (CTR weighted by impressions, CVR by clicks)."""
        if metric not in ("ctr", "cvr"):
            raise ValueError(f"metric must be ctr or cvr, got {metric!r}")
        h, d, i, ctr, cvr = self.combination_arrays(day, medium, device)
        rate = ctr if metric == "ctr" else cvr
        g = self.assets.group[h]
        n_grp = len(self.group_ids)
        sizes = np.bincount(g, minlength=n_grp)
        listed = np.flatnonzero(sizes)  # an ad group that has not launched yet has no assets
        starts = np.searchsorted(g, listed)
        mean = np.zeros(n_grp)
        mean[listed] = np.add.reduceat(rate, starts) / sizes[listed]
        best_value = np.zeros(n_grp)
        best_value[listed] = np.maximum.reduceat(rate, starts)
        is_best = rate == best_value[g]
        first_best = np.full(n_grp, -1)
        rows = np.flatnonzero(is_best)[::-1]
        first_best[g[rows]] = rows  # reversed, so the first best row of each group wins
        draw = self.draw(medium, day)
        on = draw.device_index == self._device(device)
        dg = self.creatives.group[draw.creative_index[on]]
        if metric == "ctr":
            weight, served_rate = draw.impressions[on].astype(float), draw.true_ctr[on]
        else:
            weight, served_rate = draw.impressions[on] * draw.true_ctr[on], draw.true_cvr[on]
        w = np.bincount(dg, weights=weight, minlength=n_grp)
        served = np.bincount(dg, weights=weight * served_rate, minlength=n_grp)
        ids = self.asset_ids
        key = f"true_{metric}"
        out = []
        for k in listed:
            b = first_best[k]
            out.append(
                {
                    "ad_group_id": self.group_ids[k].as_py(),
                    "best": {
                        "headline_asset_id": ids[int(h[b])].as_py(),
                        "description_asset_id": ids[int(d[b])].as_py(),
                        "image_asset_id": ids[int(i[b])].as_py(),
                        key: float(rate[b]),
                    },
                    f"mean_{key}": float(mean[k]),
                    f"served_{key}": float(served[k] / w[k]) if w[k] > 0 else None,
                }
            )
        return out


def cost_text(cost_sen: np.ndarray) -> pa.Array:
    """Exact decimal text with two places ('1234.05') from integer hundredths."""
    sen = pa.array(cost_sen, pa.int64())
    whole = pc.cast(pc.divide(sen, 100), pa.string())
    frac = pc.utf8_lpad(
        pc.cast(pc.subtract(sen, pc.multiply(pc.divide(sen, 100), 100)), pa.string()), 2, "0"
    )
    return pc.binary_join_element_wise(whole, frac, ".")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = (
            _merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def world_from_config(config: dict[str, Any], profile: str | None = None) -> World:
    """The world of a simulator config (`config/simulator.yaml`: seed, media, world, report);
    `profile` names an entry of `profiles:` whose keys override `world:` (nested dicts merge)."""
    world_cfg = dict(config.get("world") or {})
    if profile is not None:
        profiles = config.get("profiles") or {}
        if profile not in profiles:
            raise KeyError(f"no simulator profile {profile!r}; profiles are {sorted(profiles)}")
        world_cfg = _merge(world_cfg, profiles[profile] or {})
    report = config.get("report") or {}
    for key in ("attribution_window_days", "conversion_delay_weights"):
        if key in report:
            world_cfg[key] = tuple(report[key]) if isinstance(report[key], list) else report[key]
    return World(seed=int(config.get("seed", 7)), media=tuple(config["media"]), **world_cfg)
