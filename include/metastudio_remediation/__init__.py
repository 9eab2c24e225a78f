"""The remediation logic behind the ``metastudio_training_remediation`` DAG (manifest, plan, report)."""
