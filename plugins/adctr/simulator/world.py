"""A deterministic ad world: entities from a seed, daily counts drawn from known true rates.

Entities: advertisers (industry) > campaigns (objective) > ad groups (placement) > creatives
(headline and description text, format, headline length, launch date). Each creative is
served on every medium and device from its launch date on.

Generative model, per creative c, medium m, device d, day t (age = days since launch):

    logit CTR = ctr0 + medium[m] + device[d] + format[c] + industry[c] + placement[c]
                + length_slope * (headline_length[c] - 12) + weekday_ctr[t]
                + quality_ctr[c] - fatigue * log1p(age / 7)
    logit CVR = cvr0 + industry[c] + objective[c] + device[d] + placement[c] + quality_cvr[c]
    impressions ~ Poisson(volume[c] * medium_share[m] * device_share[d] * weekday_volume[t])
    clicks      ~ Binomial(impressions, CTR)
    conversions ~ Binomial(clicks, CVR)
    delay_k     ~ Multinomial(conversions, delay_weights)   k = 0 .. attribution_window - 1

quality_ctr / quality_cvr are per-creative latent effects (normal, sd 0.7) that no reported
attribute reveals, as in real ads: a model can learn them only from the creative's own
history. `fatigue` makes every creative's CTR decay with age, and new creatives keep
appearing, so yesterday's rates are not today's.

Delayed feedback: a conversion of day D with delay k is reported from day D + 1 + k on; the
report for D is final (never restated again) from D + attribution_window on.

Draws for one (medium, day) come from their own RNG stream, so any day is reproducible alone
and independent of which other days were asked for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
QUALITY_SD = 0.7  # latent creative quality: as large as all static attributes together

HEADLINE_PARTS = (
    ("今だけ", "限定", "新登場", "人気の", "話題の", "公式", "待望の"),
    ("スマホ", "旅行", "投資", "英会話", "ゲーム", "家電", "保険", "プログラミング"),
    ("セール開催中", "無料体験", "最大50%オフ", "今すぐチェック", "初回特典あり", "送料無料", ""),
)


def stream_seed(*parts: object) -> int:
    """A stable 64-bit seed from any parts (Python's hash() is salted per process)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


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
    """Entities and true rates for one seed. Building it is cheap and deterministic."""

    def __init__(
        self,
        seed: int,
        media: tuple[str, ...],
        advertisers: int = 8,
        campaigns_per_advertiser: int = 2,
        ad_groups_per_campaign: int = 2,
        creatives_per_ad_group: int = 3,
        mean_daily_impressions: float = 4000.0,
        account_id: str = "1001",
        start_date: date | str = date(2026, 1, 1),
        new_creative_share: float = 0.3,
        new_creative_days: int = 365,
        fatigue_per_log_week: float = 0.12,
        attribution_window_days: int = 7,
        conversion_delay_weights: tuple[float, ...] = (0.45, 0.2, 0.12, 0.08, 0.06, 0.05, 0.04),
    ) -> None:
        self.seed = seed
        self.media = tuple(media)
        self.account_id = account_id
        self.start_date = date.fromisoformat(str(start_date))
        self.fatigue = float(fatigue_per_log_week)
        weights = np.asarray(conversion_delay_weights, dtype=float)
        if len(weights) != attribution_window_days or (weights < 0).any():
            raise ValueError(
                f"conversion_delay_weights needs {attribution_window_days} non-negative weights "
                f"(one per day of the attribution window), got {list(conversion_delay_weights)}"
            )
        self.attribution_window_days = int(attribution_window_days)
        self.delay_weights = weights / weights.sum()

        rng = np.random.default_rng(stream_seed(seed, "world"))
        n_adv = advertisers
        n_cmp = n_adv * campaigns_per_advertiser
        n_grp = n_cmp * ad_groups_per_campaign
        n = n_grp * creatives_per_ad_group
        adv_industry = rng.integers(len(INDUSTRIES), size=n_adv)
        cmp_objective = rng.integers(len(OBJECTIVES), size=n_cmp)
        grp_placement = rng.integers(len(PLACEMENTS), size=n_grp)
        grp = np.arange(n) // creatives_per_ad_group
        cmp = grp // ad_groups_per_campaign
        adv = cmp // campaigns_per_advertiser
        parts = [rng.integers(len(p), size=n) for p in HEADLINE_PARTS]
        self.format = rng.integers(len(FORMATS), size=n)
        self.volume = mean_daily_impressions * rng.lognormal(0.0, 0.6, size=n)
        self.quality_ctr = rng.normal(0.0, QUALITY_SD, size=n)
        self.quality_cvr = rng.normal(0.0, QUALITY_SD, size=n)
        is_new = rng.random(size=n) < new_creative_share
        launch_offset = np.where(
            is_new,
            rng.integers(0, max(1, new_creative_days), size=n),
            -rng.integers(7, 180, size=n),  # evergreen: launched up to half a year before
        )
        self.launch_ordinal = self.start_date.toordinal() + launch_offset
        self.industry = adv_industry[adv]
        self.objective = cmp_objective[cmp]
        self.placement = grp_placement[grp]

        adv_ids = [f"adv{a + 1:03d}" for a in range(n_adv)]
        cmp_ids = [f"{adv_ids[c // campaigns_per_advertiser]}-cmp{c % campaigns_per_advertiser + 1}"
                   for c in range(n_cmp)]  # fmt: skip
        grp_ids = [f"{cmp_ids[g // ad_groups_per_campaign]}-ag{g % ad_groups_per_campaign + 1}"
                   for g in range(n_grp)]  # fmt: skip
        headlines = ["".join(HEADLINE_PARTS[j][parts[j][i]] for j in range(3)) for i in range(n)]
        self.headline_length = np.array([len(h) for h in headlines])
        self.creative_ids = pa.array(
            [f"{grp_ids[g]}-cr{i % creatives_per_ad_group + 1}" for i, g in enumerate(grp)]
        )
        self.advertiser_ids = pa.array(adv_ids).take(pa.array(adv))
        self.campaign_ids = pa.array(cmp_ids).take(pa.array(cmp))
        self.ad_group_ids = pa.array(grp_ids).take(pa.array(grp))
        self.headlines = pa.array(headlines)
        self.descriptions = pa.array([f"{h}の詳細はこちら。" for h in headlines])

    @property
    def size(self) -> int:
        return len(self.volume)

    def knows_medium(self, medium: str) -> bool:
        return medium in self.media

    def active(self, day: date) -> np.ndarray:
        """Indices of creatives serving on `day` (launched on or before it)."""
        return np.flatnonzero(self.launch_ordinal <= day.toordinal())

    def true_rates(
        self, medium: str, day: date, creative: np.ndarray, device: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """True (CTR, CVR) for arrays of creative and device indices on one day."""
        wd = day.weekday()
        age = np.maximum(0, day.toordinal() - self.launch_ordinal[creative])
        ctr = _sigmoid(
            CTR0
            + MEDIUM_CTR.get(medium, 0.0)
            + np.take(DEVICE_CTR, device)
            + np.take(FORMAT_CTR, self.format[creative])
            + np.take(INDUSTRY_CTR, self.industry[creative])
            + np.take(PLACEMENT_CTR, self.placement[creative])
            + LENGTH_SLOPE * (self.headline_length[creative] - 12)
            + WEEKDAY_CTR[wd]
            + self.quality_ctr[creative]
            - self.fatigue * np.log1p(age / 7.0)
        )
        cvr = _sigmoid(
            CVR0
            + np.take(INDUSTRY_CVR, self.industry[creative])
            + np.take(OBJECTIVE_CVR, self.objective[creative])
            + np.take(DEVICE_CVR, device)
            + np.take(PLACEMENT_CVR, self.placement[creative])
            + self.quality_cvr[creative]
        )
        return ctr, cvr

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
        cost_sen = np.rint(clicks * CPC_YEN.get(medium, 50.0) * 100 * rng.uniform(0.8, 1.2, size=len(clicks)))
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


def cost_text(cost_sen: np.ndarray) -> pa.Array:
    """Exact decimal text with two places ('1234.05') from integer hundredths."""
    sen = pa.array(cost_sen, pa.int64())
    whole = pc.cast(pc.divide(sen, 100), pa.string())
    frac = pc.utf8_lpad(pc.cast(pc.subtract(sen, pc.multiply(pc.divide(sen, 100), 100)), pa.string()), 2, "0")
    return pc.binary_join_element_wise(whole, frac, ".")


def world_from_config(config: dict[str, Any]) -> World:
    """The world of a simulator config (`config/simulator.yaml`: seed, media, world, report)."""
    world_cfg = dict(config.get("world") or {})
    report = config.get("report") or {}
    for key in ("attribution_window_days", "conversion_delay_weights"):
        if key in report:
            world_cfg[key] = tuple(report[key]) if isinstance(report[key], list) else report[key]
    return World(seed=int(config.get("seed", 7)), media=tuple(config["media"]), **world_cfg)
