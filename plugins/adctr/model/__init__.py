"""The model contract shared by training, serving and batch scoring (`contract`): feature
spec, artifact file names, loading a published model and predicting with its re-calibration.

May import: `adctr.core`. Never `airflow`, training, serving or release.
"""
