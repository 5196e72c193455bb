"""The shared ``gcp`` configuration section, used by every Google Cloud backend of this package.

::

    gcp:
        project_name: my-project            # the project id
        region: us-east1
        service_account: lithops@my-project.iam.gserviceaccount.com   # what functions run as
        credentials_path: /home/me/lithops-sa.json   # secret: never logged, never in payloads

Backends declare ``config_inherits = ("gcp",)``: keys their own section leaves unset come from
here. Without ``credentials_path``, credentials come from Google's application-default chain
(``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth application-default login``, the metadata
server of the function or VM the code runs on).
"""

from __future__ import annotations

from lithops.spi import ConfigOption

__all__ = [
    "CREDENTIALS_PATH",
    "GCP_OPTIONS",
    "PROJECT_NAME",
    "REGION",
    "SERVICE_ACCOUNT",
]

PROJECT_NAME = ConfigOption(
    "project_name", str, None,
    "Google Cloud project id (e.g. 'lithops-876385'); default: the project of the credentials.",
)
SERVICE_ACCOUNT = ConfigOption(
    "service_account", str, None,
    "E-mail of the service account functions and services run as; default: the project's default"
    " compute service account.",
)
REGION = ConfigOption("region", str, None, "Google Cloud region, e.g. 'us-east1'.")
# A path is not a secret by itself, but it tells where the key is, and on a worker it would
# point nowhere: it never travels in payloads.
CREDENTIALS_PATH = ConfigOption(
    "credentials_path", str, None,
    "Absolute path of a service account JSON key; default: GOOGLE_APPLICATION_CREDENTIALS or the"
    " application-default credentials.",
    secret=True,
)

#: The ``gcp`` section (entry point ``lithops.config_sections: gcp``).
GCP_OPTIONS: tuple[ConfigOption, ...] = (PROJECT_NAME, REGION, SERVICE_ACCOUNT, CREDENTIALS_PATH)
