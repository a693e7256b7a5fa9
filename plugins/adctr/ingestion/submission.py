"""Creative submission: the medium's API that takes a combination of assets with a label.

The experiment loop submits, for each unit and serving day, the combination its arm chose
with the tracking id as the creative's label; the medium's reports carry the label back
(`AD_LABEL`), which is how delivery is joined to the experiment. The request goes through the
same authenticated, retrying client as the report pulls (`ApiClient`: backoff with jitter,
Retry-After, transport faults retried, refusals raised at once), in batches of
`submission.max_per_call` (config/media.yaml). The API is idempotent per label: a re-run
re-submits the same labels and the medium answers EXISTS; a label the medium already holds
with other content is refused (HTTP 409), which fails the task naming the label.

Media whose adapter is `report_job` (the project's simulator, and report-job APIs shaped like
it) submit with `POST /api/v1/creatives`; another adapter has to add its submission call here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adctr.core import settings
from adctr.ingestion.adapters.base import SourceError
from adctr.ingestion.adapters.http_client import ApiClient, ClientPolicy

FIELDS = ("ad_group_id", "headline_asset_id", "description_asset_id", "image_asset_id", "label", "start_date", "end_date")


@dataclass(frozen=True)
class Submitted:
    label: str
    creative_id: str
    status: str  # CREATED | EXISTS


class CreativeSubmitter:
    """Submits creatives (dicts with FIELDS) to one medium's account."""

    def __init__(self, client: ApiClient, account_id: str, max_per_call: int = 1000) -> None:
        self._client = client
        self.medium = client.medium
        self.account_id = account_id
        self.max_per_call = max(1, int(max_per_call))

    def __repr__(self) -> str:  # never show the token
        return f"CreativeSubmitter(medium={self.medium!r})"

    def submit(self, creatives: list[dict[str, Any]]) -> list[Submitted]:
        out: list[Submitted] = []
        for lo in range(0, len(creatives), self.max_per_call):
            batch = [{k: c[k] for k in FIELDS} for c in creatives[lo : lo + self.max_per_call]]
            body = {"medium": self.medium, "account_id": self.account_id, "creatives": batch}
            answer = self._client.json("POST", "/api/v1/creatives", json=body)
            rows = answer.get("creatives")
            if not isinstance(rows, list) or len(rows) != len(batch):
                raise SourceError(f"{self.medium}: creative submission answered {len(rows or [])} rows for {len(batch)}")
            for sent, got in zip(batch, rows):
                if got.get("label") != sent["label"] or got.get("status") not in ("CREATED", "EXISTS"):
                    raise SourceError(f"{self.medium}: creative {sent['label']} was not accepted: {got}")
                out.append(Submitted(got["label"], str(got["creative_id"]), got["status"]))
        return out


def build_submitter(medium: str) -> CreativeSubmitter:
    """The submitter of a medium in config/media.yaml, with its Airflow Connection."""
    from adctr.ingestion.connections import api_endpoint
    from adctr.ingestion.landing import configured_media

    media = configured_media()
    if medium not in media:
        raise SourceError(f"medium {medium!r} is not configured in config/media.yaml ({sorted(media)})")
    cfg = media[medium]
    if cfg.get("adapter", "report_job") != "report_job":
        raise SourceError(f"{medium}: adapter {cfg.get('adapter')!r} has no creative submission yet (report_job has)")
    media_cfg = settings.load_config("media")
    endpoint = api_endpoint(cfg["connection_id"])
    policy = ClientPolicy.from_config(media_cfg.get("client") or {})
    max_per_call = int((media_cfg.get("submission") or {}).get("max_per_call", 1000))
    return CreativeSubmitter(ApiClient(medium, endpoint.base_url, endpoint.token, policy), str(cfg["account_id"]), max_per_call)
