"""A deterministic ad world: entities from a seed, daily counts drawn from known true rates.

Generative model (per creative c, medium m, device d, day t):
    logit(CTR) = ctr0 + medium[m] + device[d] + format[c] + industry[c] + quality_ctr[c]
                 + weekday[t]
    logit(CVR) = cvr0 + industry[c] + objective[c] + device[d] + quality_cvr[c]
    impressions ~ Poisson(volume[c] * medium_share[m] * device_share[d] * weekday_volume[t])
    clicks      ~ Binomial(impressions, CTR)
    conversions ~ Binomial(clicks, CVR)
quality_ctr/quality_cvr are per-creative latent effects that no reported attribute reveals
(as in real ads): a model can only learn them from the creative's own history.
Draws for one (medium, day) use their own RNG stream, so any day is reproducible alone.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date

import numpy as np

INDUSTRIES = ("finance", "travel", "retail", "games", "education")
INDUSTRY_CTR = {"finance": -0.25, "travel": 0.10, "retail": 0.15, "games": 0.30, "education": -0.10}
INDUSTRY_CVR = {"finance": -0.40, "travel": 0.05, "retail": 0.30, "games": -0.10, "education": 0.10}
OBJECTIVES = ("traffic", "conversions")
OBJECTIVE_CVR = {"traffic": -0.30, "conversions": 0.35}
FORMATS = ("text", "image", "video")
FORMAT_CTR = {"text": -0.20, "image": 0.05, "video": 0.25}
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_SHARE = {"mobile": 0.62, "desktop": 0.28, "tablet": 0.10}
DEVICE_CTR = {"mobile": 0.15, "desktop": -0.10, "tablet": -0.05}
DEVICE_CVR = {"mobile": -0.15, "desktop": 0.25, "tablet": 0.0}
MEDIUM_CTR = {"yahoo_ads": 0.0, "google_ads": 0.20, "meta": -0.15}
MEDIUM_SHARE = {"yahoo_ads": 1.0, "google_ads": 1.2, "meta": 0.8}
WEEKDAY_CTR = (0.0, 0.02, 0.03, 0.02, -0.02, 0.08, 0.10)  # Monday..Sunday
WEEKDAY_VOLUME = (1.0, 1.02, 1.03, 1.0, 0.97, 0.85, 0.82)
CTR0 = -3.6  # ~2.7% base CTR
CVR0 = -3.0  # ~4.7% base CVR
CPC_YEN = {"yahoo_ads": 45.0, "google_ads": 60.0, "meta": 38.0}

HEADLINE_PARTS = (
    ("今だけ", "限定", "新登場", "人気の", "話題の", "公式"),
    ("スマホ", "旅行", "投資", "英会話", "ゲーム", "家電", "保険", "プログラミング"),
    ("セール開催中", "無料体験", "最大50%オフ", "今すぐチェック", "初回特典あり", "送料無料"),
)


@dataclass(frozen=True)
class Creative:
    account_id: str
    advertiser_id: str
    industry: str
    campaign_id: str
    objective: str
    ad_group_id: str
    creative_id: str
    headline: str
    description: str
    ad_format: str
    volume: float
    quality_ctr: float
    quality_cvr: float


def _stream_seed(*parts: object) -> int:
    """A stable 64-bit seed from any parts (Python's hash() is salted per process)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


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
    ) -> None:
        self.seed = seed
        self.media = tuple(media)
        rng = np.random.default_rng(_stream_seed(seed, "world"))
        creatives: list[Creative] = []
        for a in range(advertisers):
            advertiser_id = f"adv{a + 1:03d}"
            industry = INDUSTRIES[int(rng.integers(len(INDUSTRIES)))]
            for c in range(campaigns_per_advertiser):
                campaign_id = f"{advertiser_id}-cmp{c + 1}"
                objective = OBJECTIVES[int(rng.integers(len(OBJECTIVES)))]
                for g in range(ad_groups_per_campaign):
                    ad_group_id = f"{campaign_id}-ag{g + 1}"
                    for k in range(creatives_per_ad_group):
                        headline = "".join(
                            part[int(rng.integers(len(part)))] for part in HEADLINE_PARTS
                        )
                        creatives.append(
                            Creative(
                                account_id=account_id,
                                advertiser_id=advertiser_id,
                                industry=industry,
                                campaign_id=campaign_id,
                                objective=objective,
                                ad_group_id=ad_group_id,
                                creative_id=f"{ad_group_id}-cr{k + 1}",
                                headline=headline,
                                description=f"{headline}の詳細はこちら。",
                                ad_format=FORMATS[int(rng.integers(len(FORMATS)))],
                                volume=float(mean_daily_impressions * rng.lognormal(0.0, 0.6)),
                                quality_ctr=float(rng.normal(0.0, 0.35)),
                                quality_cvr=float(rng.normal(0.0, 0.35)),
                            )
                        )
        self.creatives = tuple(creatives)

    def knows_medium(self, medium: str) -> bool:
        return medium in self.media

    def true_rates(self, c: Creative, medium: str, device: str, day: date) -> tuple[float, float]:
        """The true (CTR, CVR) of one creative x medium x device on one day."""
        wd = day.weekday()
        ctr = _sigmoid(
            CTR0
            + MEDIUM_CTR.get(medium, 0.0)
            + DEVICE_CTR[device]
            + FORMAT_CTR[c.ad_format]
            + INDUSTRY_CTR[c.industry]
            + c.quality_ctr
            + WEEKDAY_CTR[wd]
        )
        cvr = _sigmoid(
            CVR0
            + INDUSTRY_CVR[c.industry]
            + OBJECTIVE_CVR[c.objective]
            + DEVICE_CVR[device]
            + c.quality_cvr
        )
        return ctr, cvr

    def daily_rows(self, medium: str, day: date) -> list[dict[str, object]]:
        """Report rows for one medium and day, with the true rates beside the drawn counts."""
        if not self.knows_medium(medium):
            raise KeyError(medium)
        rng = np.random.default_rng(_stream_seed(self.seed, medium, day.isoformat()))
        rows: list[dict[str, object]] = []
        for c in self.creatives:
            for device in DEVICES:
                ctr, cvr = self.true_rates(c, medium, device, day)
                lam = (
                    c.volume
                    * MEDIUM_SHARE.get(medium, 1.0)
                    * DEVICE_SHARE[device]
                    * WEEKDAY_VOLUME[day.weekday()]
                )
                impressions = int(rng.poisson(lam))
                clicks = int(rng.binomial(impressions, ctr))
                conversions = int(rng.binomial(clicks, cvr))
                cost = round(clicks * CPC_YEN.get(medium, 50.0) * float(rng.uniform(0.8, 1.2)), 2)
                rows.append(
                    {
                        "creative": c,
                        "device": device,
                        "impressions": impressions,
                        "clicks": clicks,
                        "conversions": conversions,
                        "cost": cost,
                        "true_ctr": ctr,
                        "true_cvr": cvr,
                    }
                )
        return rows
