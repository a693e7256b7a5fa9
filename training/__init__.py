"""CTR/CVR model training: dataset, features, LightGBM, evaluation, champion gate, publish.

Runs inside an Airflow task or from the CLI (`python -m training ...`), same code either way.
"""
