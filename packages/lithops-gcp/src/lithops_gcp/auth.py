"""Google credentials of a backend, from its configuration: one place for every backend.

Order: ``credentials_path`` (a service account key), then application-default credentials. With
an ``endpoint`` (an emulator) and no key, requests go unauthenticated, as emulators expect. The
google-auth library is imported here, when a backend is created, never on ``import lithops``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lithops.errors import ConfigError

__all__ = ["CLOUD_SCOPE", "GoogleCredentials", "load_credentials", "require_project"]

CLOUD_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_ADC_HELP = (
    "Set 'credentials_path' in the 'gcp' section to a service account JSON key, or set"
    " GOOGLE_APPLICATION_CREDENTIALS, or run 'gcloud auth application-default login'."
)


@dataclass(frozen=True)
class GoogleCredentials:
    """Credentials and the project they belong to.

    Attributes:
        credentials: a ``google.auth.credentials.Credentials``.
        project: the configured ``project_name``, else the credentials' own project.
        key_file: the service account key file, when one was configured.
    """

    credentials: Any
    project: str | None
    key_file: str | None


def load_credentials(section: str, config: Mapping[str, Any], *, emulated: bool) -> GoogleCredentials:
    """The credentials a backend configured by ``config`` (its validated section) uses.

    Args:
        section: the section name, for error messages.
        config: the section, with the ``gcp`` keys already filled in.
        emulated: the backend talks to an emulator: no key means anonymous requests.

    Raises:
        ConfigError: the key file is missing or unreadable, or no credentials can be found.
    """
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    project = config.get("project_name")
    key_file = config.get("credentials_path")
    if key_file:
        from google.oauth2 import service_account

        path = os.path.expanduser(str(key_file))
        if not os.path.isfile(path):
            # The path is a secret option: name the key, not the value.
            raise ConfigError(
                f"Config key 'credentials_path' (section 'gcp' or {section!r}) points to no file."
                " Give the absolute path of the service account JSON key downloaded from the"
                " Google Cloud console."
            )
        try:
            credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                path, scopes=[CLOUD_SCOPE])
        except (ValueError, KeyError) as exc:
            raise ConfigError(
                f"The file of config key 'credentials_path' (section 'gcp' or {section!r}) is not a"
                f" service account JSON key ({type(exc).__name__}). Download a JSON key of the service"
                " account from the Google Cloud console."
            ) from None
        return GoogleCredentials(credentials, project or credentials.project_id, path)
    if emulated:
        from google.auth.credentials import AnonymousCredentials

        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return GoogleCredentials(anonymous, project or "lithops-emulated", None)
    try:
        credentials, default_project = google.auth.default(scopes=[CLOUD_SCOPE])
    except DefaultCredentialsError as exc:
        raise ConfigError(f"No Google Cloud credentials found for {section!r} ({exc}). {_ADC_HELP}") from None
    return GoogleCredentials(credentials, project or default_project, None)


def require_project(section: str, credentials: GoogleCredentials) -> str:
    """The project id, or a :class:`ConfigError` saying where to set it."""
    if not credentials.project:
        raise ConfigError(
            f"No Google Cloud project is configured for {section!r}. Set 'project_name' in the 'gcp'"
            " section (the project id, e.g. 'lithops-876385'), or use credentials that name a project."
        )
    return credentials.project
