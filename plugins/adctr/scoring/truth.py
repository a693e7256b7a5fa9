"""Is batch scoring right? The model's top-1 combinations judged by the simulator's truth.

The project's ad-media simulator knows the true CTR and CVR of every combination of every ad
group, served or not (`/api/v1/combination_truth`). For each slot and scoring context this
asks it for the true rate of the combination the model ranked first in every ad group and
reports the share of the best combination's true rate it reaches, next to the share a
uniformly random combination reaches (its expectation) and the share the creatives serving
that day reach. Only where the source is the simulator (`truth_connection_id` in
config/scoring.yaml); a real medium has no such endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import requests
import tenacity

from adctr.warehouse.base import Warehouse

BEST = "scoring.best_combinations"
MAX_COMBINATIONS_PER_CALL = 100_000
RATE = {"ctr": "true_ctr", "cvr": "true_cvr"}


class TruthUnavailable(RuntimeError):
    """The simulator's truth endpoint did not answer as expected."""


@dataclass(frozen=True)
class TruthClient:
    base_url: str
    token: str
    timeout_seconds: float = 60.0

    def __repr__(self) -> str:  # never show the token
        return f"TruthClient(base_url={self.base_url!r}, token='***')"

    @tenacity.retry(
        retry=tenacity.retry_if_exception_type((requests.ConnectionError, requests.Timeout, TruthUnavailable)),
        wait=tenacity.wait_exponential(multiplier=0.5, max=10),
        stop=tenacity.stop_after_attempt(5),
        reraise=True,
    )
    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        resp = requests.request(
            method, f"{self.base_url.rstrip('/')}{path}", timeout=self.timeout_seconds,
            headers={"Authorization": f"Bearer {self.token}"}, **kwargs,
        )  # fmt: skip
        if resp.status_code in (429, 500, 502, 503, 504):
            raise TruthUnavailable(f"{method} {path}: HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise TruthUnavailable(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:300]}")
        return resp.json()

    def summary(self, day: date, medium: str, device: str, metric: str) -> dict[str, dict[str, Any]]:
        """Per ad group: the best combination's, a random one's and the served creatives' true rate."""
        body = self._call(
            "GET", "/api/v1/combination_truth/summary",
            params={"date": day.isoformat(), "medium": medium, "device": device, "metric": metric},
        )  # fmt: skip
        return {g["ad_group_id"]: g for g in body["ad_groups"]}

    def rates(self, day: date, medium: str, device: str, combinations: list[list[str]]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for lo in range(0, len(combinations), MAX_COMBINATIONS_PER_CALL):
            body = self._call(
                "POST", "/api/v1/combination_truth",
                json={"date": day.isoformat(), "medium": medium, "device": device,
                      "combinations": combinations[lo : lo + MAX_COMBINATIONS_PER_CALL]},
            )  # fmt: skip
            rows += body["rows"]
        return rows

    def submitted(self, day: date, medium: str) -> list[dict[str, Any]]:
        """The submitted creatives serving on `day`: label, device, expected impressions and
        true rates (the answer key of the experiment loop's delivery)."""
        return self._call("GET", "/api/v1/creatives/truth", params={"medium": medium, "date": day.isoformat()})["rows"]


def evaluate(wh: Warehouse, client: TruthClient, scoring_date: date) -> list[dict[str, Any]]:
    """One row per (slot, context): the top-1's mean share of the best true rate, and the
    same for a random choice and the served creatives (all means over ad groups)."""
    top = wh.query_arrow(
        f"select slot, model, medium, device, ad_group_id, headline_asset_id, description_asset_id, "
        f"image_asset_id from {BEST} where scoring_date = @scoring_date and score_rank = 1 "
        f"order by slot, medium, device, ad_group_id",
        {"scoring_date": scoring_date},
    ).to_pylist()
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for row in top:
        groups.setdefault((row["slot"], row["model"], row["medium"], row["device"]), []).append(row)
    out = []
    for (slot, model, medium, device), rows in sorted(groups.items()):
        truth = client.summary(scoring_date, medium, device, model)
        combos = [[r["headline_asset_id"], r["description_asset_id"], r["image_asset_id"]] for r in rows]
        chosen = client.rates(scoring_date, medium, device, combos)
        best = np.array([truth[r["ad_group_id"]]["best"][RATE[model]] for r in rows])
        picked = np.array([c[RATE[model]] for c in chosen])
        random = np.array([truth[r["ad_group_id"]][f"mean_{RATE[model]}"] for r in rows])
        served = np.array([truth[r["ad_group_id"]].get(f"served_{RATE[model]}") for r in rows], dtype=float)
        has_served = ~np.isnan(served)
        out.append({
            "slot": slot, "model": model, "medium": medium, "device": device, "ad_groups": len(rows),
            "model_top1_share_of_best": round(float(np.mean(picked / best)), 4),
            "random_share_of_best": round(float(np.mean(random / best)), 4),
            "served_share_of_best": round(float(np.mean(served[has_served] / best[has_served])), 4)
            if has_served.any() else None,
            "top1_is_best": round(float(np.mean(np.isclose(picked, best, rtol=1e-12, atol=0))), 4),
        })  # fmt: skip
    return out
