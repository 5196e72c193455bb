"""Case 7: an S3 endpoint that accepts connections and never answers costs seconds, not minutes:
connect/read timeouts and retries are config options (lithops.spi.CLIENT_TIMEOUT_OPTIONS)."""

from __future__ import annotations

import time

import pytest
from conftest import s3_config
from faults_proxy import FaultProxy
from lithops.errors import StorageUnavailableError
from lithops.spi import ClientTimeouts
from lithops.storage import Storage


def test_defaults_are_seconds_not_minutes() -> None:
    defaults = ClientTimeouts.from_config({})
    assert defaults.worst_case <= 60, defaults


@pytest.mark.parametrize("mode", ["freeze", "delay"])
def test_silent_endpoint_fails_within_the_configured_timeouts(moto_server, s3_proxy: FaultProxy, mode: str) -> None:  # type: ignore[no-untyped-def]
    config = s3_config(moto_server, s3_proxy.endpoint, "faults-silent")
    section = config["aws_s3"]
    storage = Storage(storage_config={"backend": "aws_s3", "bucket": "faults-silent", "aws_s3": section})
    storage.put_object("faults-silent", "k", b"v")
    assert storage.get_object("faults-silent", "k") == b"v"
    s3_proxy.set_mode(mode, delay=30.0)
    start = time.monotonic()
    with pytest.raises(StorageUnavailableError, match="did not answer in time|read_timeout"):
        storage.get_object("faults-silent", "k")
    elapsed = time.monotonic() - start
    budget = ClientTimeouts.from_config(section).worst_case + 5  # plus botocore's short backoff
    assert elapsed < budget, f"{elapsed:.1f} s > {budget:.1f} s"
    print(f"\n[case 7] {mode} endpoint (read_timeout {section['read_timeout']} s, retries"
          f" {section['retries']}): StorageUnavailableError after {elapsed:.2f} s")
