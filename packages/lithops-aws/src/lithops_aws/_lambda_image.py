"""Container image runtimes of ``aws_lambda``: ``docker build`` and a push to Amazon ECR.

A Dockerfile runtime needs a Docker engine on the client. The ECR side (repository, login token)
goes through boto3; the image itself is built and pushed by the ``docker`` command line. The
registry password is handed to ``docker login`` on its standard input, never as an argument or in
a log line.
"""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lithops.errors import LithopsError

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


def _run(runner: Runner, command: Sequence[str], what: str, stdin: str | None = None) -> None:
    result = runner(list(command), input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join(((result.stdout or "") + (result.stderr or "")).strip().splitlines()[-15:])
        raise LithopsError(f"{what} failed (exit code {result.returncode}):\n{tail}")


def build_and_push_image(ecr: Any, repository: str, tag: str, dockerfile: str | Path,
                         extra_args: Sequence[str] = (), platform: str = "linux/amd64",
                         runner: Runner | None = None, docker: str | None = None) -> str:
    """Build ``dockerfile`` (its folder is the build context), push it to ECR, return the image URI.

    Raises:
        LithopsError: no ``docker`` command, or a docker step failed (with its output).
    """
    path = Path(dockerfile)
    if not path.is_file():
        raise LithopsError(f"Dockerfile {str(path)!r} does not exist. Give the path of a Dockerfile.")
    docker = docker or shutil.which("docker")
    if docker is None:
        raise LithopsError(
            "Building a container image runtime needs the docker command and a Docker engine, and"
            " neither was found. Install Docker, or build a zip runtime from a requirements file:"
            " lithops runtime build -b aws_lambda -f requirements.txt NAME"
        )
    run = runner or subprocess.run
    uri = ensure_repository(ecr, repository)
    image = f"{uri}:{tag}"
    logger.info("Building image %s from %s", image, path)
    _run(run, [docker, "build", "--platform", platform, "-t", image, "-f", str(path), *extra_args,
               str(path.parent)], "docker build")
    token = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    _run(run, [docker, "login", "--username", user, "--password-stdin", token["proxyEndpoint"]],
         "docker login to ECR", stdin=password)
    _run(run, [docker, "push", image], "docker push")
    return image
