# One image for every Airflow service of docker-compose.yaml and for the MetaStudio sandbox.
# Built on the official image; installs the pinned requirements with the full lock
# of that Python (constraints-3.11.txt) and this project, so nothing is pip-installed when a
# container starts (no _PIP_ADDITIONAL_REQUIREMENTS). Keep the tag in step with apache-airflow in
# requirements.txt; Python 3.11 is the version the README recommends (the full test suite's).
FROM apache/airflow:3.3.2-python3.11

# The sandbox keeps its state here; a named volume mounted on it inherits this ownership.
USER root
RUN mkdir -p /var/lib/metastudio-sandbox /opt/airflow/metastudio_reports \
    && chown -R airflow:0 /var/lib/metastudio-sandbox /opt/airflow/metastudio_reports
USER airflow

# Dependencies first: this layer is rebuilt only when a pin changes.
COPY --chown=airflow:0 requirements.txt constraints-3.11.txt /opt/airflow/lock/
RUN pip install --no-cache-dir -r /opt/airflow/lock/requirements.txt -c /opt/airflow/lock/constraints-3.11.txt

# The project and the provider distribution, installed in editable mode from the very folders
# docker-compose.yaml mounts (plugins/ holds metastudio_provider, include/ the sandbox and the
# DAG's helpers), so the installed packages and the mounted files are one and the same. The
# provider's install registers its entry point (MetaStudio connection type).
COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow/
COPY --chown=airflow:0 distributions/ /opt/airflow/distributions/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
RUN pip install --no-cache-dir --no-deps -e /opt/airflow -e /opt/airflow/distributions/airflow-provider-metastudio
