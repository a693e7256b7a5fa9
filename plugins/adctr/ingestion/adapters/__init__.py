"""One adapter per kind of ad-media API, all behind `base.SourceAdapter`: `report_job` (async
create -> poll -> CSV pages) and `google_ads` (the Google provider's GoogleAdsHook, GAQL)."""
