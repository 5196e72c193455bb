"""Session fixtures of the lithops-gcp tests, started once: fake-gcs-server (from the test kit)."""

from __future__ import annotations

from lithops_testkit.emulators.fake_gcs import gcs_server  # noqa: F401  (the session fixture)
