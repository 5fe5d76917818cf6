"""Quality: on-site determination, evidence, defective-product form, return, adjudication, corrective actions."""
