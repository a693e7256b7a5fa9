"""Batch scoring where the rows live: a LightGBM model compiled to warehouse SQL (`tree_sql`)
that gives `FittedModel.predict`'s scores, so candidates are scored in BigQuery (or the embedded
DuckDB) without moving them out.

May import: `adctr.core`, `adctr.model`, `adctr.warehouse`, `adctr.release`. Never `airflow`,
the simulator, serving, ingestion or quality.
"""
