"""Container image runtimes of ``aws_lambda``: ``docker build`` and a push to Amazon ECR.

A Dockerfile runtime needs a Docker engine on the client. The ECR side (repository, login token)
goes through boto3; the image is built and pushed by :func:`lithops.runtimes.build_image` (the
registry password goes to ``docker login`` on its standard input, never as an argument or in a
log line).
"""

from __future__ import annotations

import base64
import logging
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lithops.runtimes import RegistryLogin, build_image

__all__ = ["DOCKERFILE_TEMPLATE", "Runner", "build_and_push_image", "ensure_repository"]

logger = logging.getLogger(__name__)

Runner = Callable[..., "subprocess.CompletedProcess[str]"]

#: A Dockerfile for a Lambda container runtime (documented in docs/backends/aws_lambda.md).
DOCKERFILE_TEMPLATE = """\
FROM public.ecr.aws/lambda/python:{python_version}
RUN pip install --no-cache-dir "lithops-aws=={lithops_aws_version}" "lithops-core=={lithops_version}"
# Your function's extra dependencies:
# RUN pip install --no-cache-dir numpy pandas
CMD ["lithops_aws.entry_point.handler"]
"""


def ensure_repository(ecr: Any, repository: str) -> str:
    """The URI of the ECR repository ``repository``, created when missing."""
    try:
        response = ecr.create_repository(repositoryName=repository,
                                         imageScanningConfiguration={"scanOnPush": False})
        uri: str = response["repository"]["repositoryUri"]
        logger.info("Created ECR repository %s", uri)
        return uri
    except ecr.exceptions.RepositoryAlreadyExistsException:
        described = ecr.describe_repositories(repositoryNames=[repository])
        existing: str = described["repositories"][0]["repositoryUri"]
        return existing


def build_and_push_image(ecr: Any, repository: str, tag: str, dockerfile: str | Path,
                         extra_args: Sequence[str] = (), platform: str = "linux/amd64",
                         runner: Runner | None = None, docker: str | None = None) -> str:
    """Build ``dockerfile`` (its folder is the build context), push it to ECR, return the image URI.

    Raises:
        RuntimeBuildError: no Docker engine here (with the commands to run elsewhere), or a
            docker step failed (with its output).
    """
    uri = ensure_repository(ecr, repository)
    token = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    login = RegistryLogin(token["proxyEndpoint"], user, password)
    return build_image(dockerfile, f"{uri}:{tag}", platform=platform, extra_args=extra_args, login=login,
                       runner=runner, docker=docker,
                       hint="build a zip runtime from a requirements file: lithops runtime build -b aws_lambda"
                            " -f requirements.txt NAME")
