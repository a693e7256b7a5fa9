"""Orchestration: everything that knows about Airflow. Task bodies per DAG (`tasks/`), DAG
building helpers (`dag_helpers`), pools, failure and deadline alerts, lineage assets, the
conf guard middleware, the run summary and its UI pages.

May import: every library package and `training`. DAG files import only this package; nothing
in the library imports it.
"""
