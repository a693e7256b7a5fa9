"""The core every other package stands on: settings and config files, report dates, the
project's error hierarchy, object storage (local directory or GCS), table schemas read from
`sql/**/*.yml`, and safe names.

May import: nothing of the project (third-party libraries only; never `airflow`, except the
one Airflow GCS hook behind `storage.airflow_gcs_client`, which the serving library never calls).
"""
