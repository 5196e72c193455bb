"""The shared ``ibm`` configuration section, used by every IBM Cloud backend of this package.

::

    ibm:
        iam_api_key: ...            # secret: never logged, never put into invocation payloads
        region: us-east
        resource_group_id: ...

``ibm_cos`` and ``code_engine`` take these keys when their own section leaves them unset
(``config_inherits = ("ibm",)``). ``iam_endpoint`` points at another IAM token service (a private
endpoint, or a local stand-in in tests).
"""

from __future__ import annotations

from lithops.spi import ConfigOption

__all__ = ["DEFAULT_IAM_ENDPOINT", "IAM_API_KEY", "IAM_ENDPOINT", "IBM_OPTIONS", "REGION", "RESOURCE_GROUP_ID"]

#: IBM Cloud's public IAM token service.
DEFAULT_IAM_ENDPOINT = "https://iam.cloud.ibm.com"

IAM_API_KEY = ConfigOption(
    "iam_api_key", str, None,
    "IBM Cloud API key (an account or service ID key), exchanged for short-lived IAM tokens.",
    secret=True,
)
IAM_ENDPOINT = ConfigOption(
    "iam_endpoint", str, DEFAULT_IAM_ENDPOINT,
    "URL of the IAM token service (its /identity/token is asked for tokens).",
)
REGION = ConfigOption("region", str, None, "IBM Cloud region, e.g. 'us-east', 'eu-de', 'jp-tok'.")
RESOURCE_GROUP_ID = ConfigOption(
    "resource_group_id", str, None, "Resource group in which Code Engine projects are looked up and created."
)

#: The ``ibm`` section (entry point ``lithops.config_sections: ibm``).
IBM_OPTIONS: tuple[ConfigOption, ...] = (IAM_API_KEY, REGION, RESOURCE_GROUP_ID, IAM_ENDPOINT)
