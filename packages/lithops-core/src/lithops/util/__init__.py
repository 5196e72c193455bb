"""``lithops.util``: integrations kept at their Lithops 3 import paths (``lithops.util.joblib``)."""
