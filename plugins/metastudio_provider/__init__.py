"""Huawei Cloud MetaStudio integration for Apache Airflow 3, laid out like a provider package."""

__version__ = "0.1.0"
