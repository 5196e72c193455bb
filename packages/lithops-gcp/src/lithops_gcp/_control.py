"""Errors of Google's control-plane clients turned into lithops errors that say what to do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lithops.errors import ConfigError, InvocationError, LithopsError

__all__ = ["control_errors"]


@contextlib.contextmanager
def control_errors(backend: str, what: str, role: str, endpoint: str | None) -> Iterator[None]:
    """Map ``google.api_core`` errors raised inside the block.

    Args:
        backend: the backend id, for messages.
        what: what was being done ("creating function lithops-...").
        role: the IAM role that allows it, for permission errors.
        endpoint: the configured endpoint, if any.
    """
    from google.api_core import exceptions as api
    from google.auth.exceptions import GoogleAuthError

    where = endpoint or "Google Cloud"
    try:
        yield
    except LithopsError:
        raise
    except (api.PermissionDenied, api.Unauthenticated) as exc:
        raise ConfigError(
            f"{where} refused {what} ({exc.code}: {exc.message}). Give the service account of"
            f" 'credentials_path' (section 'gcp') the role {role}, and Service Account User on the"
            f" service account the runtime runs as; see docs/backends/{backend}.md."
        ) from None
    except api.TooManyRequests as exc:
        raise InvocationError(f"{where} throttled {what}: {exc.message}. Retry later.") from None
    except api.RetryError as exc:
        raise InvocationError(f"{where} did not answer while {what} ({exc.cause!r}). Check 'endpoint'"
                              " and the network.") from None
    except api.GoogleAPICallError as exc:
        raise InvocationError(f"{where} failed {what}: {exc.code} {exc.message}") from None
    except GoogleAuthError as exc:
        raise ConfigError(f"Could not authenticate to {where} while {what} ({type(exc).__name__}: {exc})."
                          " Check 'credentials_path' in the 'gcp' section.") from None
    except (ConnectionError, OSError) as exc:
        raise InvocationError(f"Cannot reach {where} while {what} ({type(exc).__name__}: {exc}). Check"
                              f" the '{backend}.endpoint' configuration and the network.") from None
