"""The shared ``aws`` configuration section, used by every AWS backend of this package.

::

    aws:
        region: eu-west-1
        access_key_id: AKIA...
        secret_access_key: ...      # secret: never logged, never put into invocation payloads
        session_token: ...          # secret, for temporary credentials

Backends that declare ``config_inherits = ("aws",)`` (``aws_s3``; later ``aws_lambda``) take these
keys when their own section leaves them unset. Keys missing from both come from the standard boto3
credential chain: environment variables, ``~/.aws/credentials`` and ``~/.aws/config`` (or the
profile named by ``config_profile``), container and instance roles.
"""

from __future__ import annotations

from lithops.spi import ConfigOption

__all__ = [
    "ACCESS_KEY_ID",
    "ACCOUNT_ID",
    "AWS_OPTIONS",
    "CONFIG_PROFILE",
    "CREDENTIAL_OPTIONS",
    "REGION",
    "SECRET_ACCESS_KEY",
    "SESSION_TOKEN",
]

# Secret too: a worker given only the key id would fail with partial credentials, and an
# access key id is an account identifier that does not belong in payloads or logs.
ACCESS_KEY_ID = ConfigOption(
    "access_key_id", str, None, "AWS access key id; default: the boto3 credential chain.", secret=True
)
SECRET_ACCESS_KEY = ConfigOption(
    "secret_access_key", str, None, "AWS secret access key; default: the boto3 credential chain.",
    secret=True,
)
SESSION_TOKEN = ConfigOption(
    "session_token", str, None, "Session token of temporary credentials (STS).", secret=True
)
CONFIG_PROFILE = ConfigOption(
    "config_profile", str, None, "Profile of ~/.aws/config and ~/.aws/credentials to read credentials from."
)
REGION = ConfigOption(
    "region", str, None, "AWS region, e.g. 'us-east-1'; default: AWS_DEFAULT_REGION or the profile's."
)
ACCOUNT_ID = ConfigOption("account_id", str, None, "AWS account id (used by compute backends).")

#: The keys through which a backend reaches its credentials.
CREDENTIAL_OPTIONS: tuple[ConfigOption, ...] = (
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    CONFIG_PROFILE,
)

#: The ``aws`` section (entry point ``lithops.config_sections: aws``).
AWS_OPTIONS: tuple[ConfigOption, ...] = (*CREDENTIAL_OPTIONS, REGION, ACCOUNT_ID)
