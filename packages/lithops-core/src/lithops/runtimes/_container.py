"""Container image runtimes: a build context made from the client's lithops, built and pushed
with docker where a Docker engine answers, or the exact commands to run elsewhere.

:func:`write_build_context` writes a folder holding a ``Dockerfile``, the client's lithops
distributions (copied as installed, so the image runs exactly the client's lithops) and a
``requirements.txt`` (lithops' dependencies pinned to the client's versions, plus the user's
requirements file). :func:`build_image` builds it (or a user's own Dockerfile) and pushes it;
:func:`build_runtime_image` does both for ``lithops runtime build``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lithops.errors import RuntimeBuildError
from lithops.runtimes._archive import client_requirements, lithops_archive
from lithops.runtimes._records import client_python_version
from lithops.version import __version__
from lithops.worker.marker import WORKER_ENV

logger = logging.getLogger(__name__)

Runner = Callable[..., "subprocess.CompletedProcess[str]"]

#: Where the client's lithops distributions are copied inside the image (put on ``PYTHONPATH``).
IMAGE_LITHOPS_DIR = "/opt/lithops"


@dataclass(frozen=True)
class RegistryLogin:
    """Credentials for ``docker login`` (the password goes to docker's standard input, never to
    its arguments or to a log line)."""

    registry: str
    username: str
    password: str

    def __repr__(self) -> str:
        return f"RegistryLogin(registry={self.registry!r}, username={self.username!r}, password='***')"


def dockerfile_text(base_image: str, *, command: Sequence[str] | None = None,
                    env: Mapping[str, str] | None = None, python: str = "python3") -> str:
    """The Dockerfile of a lithops runtime image (see :func:`write_build_context`)."""
    variables = {"PYTHONUNBUFFERED": "1", WORKER_ENV: "1", "PYTHONPATH": IMAGE_LITHOPS_DIR, **dict(env or {})}
    lines = [
        f"# A lithops runtime image, written by lithops {__version__}.",
        f"FROM {base_image}",
        "ENV " + " ".join(f"{name}={json.dumps(str(value))}" for name, value in variables.items()),
        "COPY requirements.txt /tmp/lithops-requirements.txt",
        f"RUN {python} -m pip install --no-cache-dir -r /tmp/lithops-requirements.txt",
        f"COPY lithops/ {IMAGE_LITHOPS_DIR}/",
    ]
    if command:
        lines.append("CMD " + json.dumps(list(command)))
    return "\n".join(lines) + "\n"


def write_build_context(directory: str | os.PathLike[str], base_image: str, distributions: Sequence[str], *,
                        requirements: str | os.PathLike[str] | None = None,
                        command: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
                        python: str = "python3") -> Path:
    """Write the build context of a runtime image into ``directory``; returns the Dockerfile's path.

    Args:
        directory: an empty or new folder.
        base_image: the image to start from (it must have ``python`` and pip, with the client's
            Python ``major.minor``).
        distributions: the provider's lithops distributions (``["lithops-k8s"]``); lithops-core is
            always included.
        requirements: a pip requirements file with the user's own dependencies.
        command: the image's ``CMD`` (``["python", "-m", "lithops.worker", "run-job"]``).
        env: more environment variables of the image. ``LITHOPS_WORKER=1`` is always set.
        python: the interpreter of the base image.

    Raises:
        RuntimeBuildError: ``requirements`` does not exist, or a distribution is not installed.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    lines = [f"# lithops' dependencies, as installed on the client (lithops {__version__})",
             *client_requirements(*distributions)]
    if requirements is not None:
        path = Path(requirements)
        if not path.is_file():
            raise RuntimeBuildError(f"Requirements file {str(path)!r} does not exist. Give the path of a pip"
                                    " requirements file.")
        lines += [f"# from {path.name}", path.read_text()]
    (target / "requirements.txt").write_text("\n".join(lines).rstrip("\n") + "\n")
    lithops_dir = target / "lithops"
    if lithops_dir.exists():
        shutil.rmtree(lithops_dir)
    lithops_archive(*distributions).extract(lithops_dir)
    dockerfile = target / "Dockerfile"
    dockerfile.write_text(dockerfile_text(base_image, command=command, env=env, python=python))
    return dockerfile


def _tail(result: subprocess.CompletedProcess[str], lines: int = 15) -> str:
    return "\n".join(((result.stdout or "") + (result.stderr or "")).strip().splitlines()[-lines:])


def manual_build_commands(dockerfile: str | os.PathLike[str], image: str, platform: str | None = None,
                          extra_args: Sequence[str] = (), push: bool = True) -> str:
    """The shell commands that build (and push) the image, for a machine with a Docker engine."""
    path = Path(dockerfile)
    build = ["docker", "build", *(["--platform", platform] if platform else []), "-t", image,
             "-f", str(path), *extra_args, str(path.parent)]
    commands = [shlex.join(build)]
    if push:
        commands.append(shlex.join(["docker", "push", image]))
    return " && ".join(commands)


def find_docker_engine(docker: str | None = None, runner: Runner | None = None, timeout: float = 30.0) -> str:
    """The ``docker`` command, once a Docker engine answered it (``docker info``).

    Raises:
        RuntimeBuildError: no ``docker`` command, or no engine behind it (the client alone cannot
            build); the message says why.
    """
    command = docker or shutil.which("docker")
    if command is None:
        raise RuntimeBuildError("the docker command is not installed")
    run = runner or subprocess.run
    try:
        result = run([command, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                     check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeBuildError(f"the Docker engine did not answer `docker info` within {timeout:g} s") from None
    except OSError as exc:
        raise RuntimeBuildError(f"the docker command could not run: {exc}") from exc
    if result.returncode != 0 or not (result.stdout or "").strip():
        raise RuntimeBuildError(f"docker is installed but no Docker engine answers it:\n{_tail(result, 5)}")
    return command


def _run(runner: Runner, command: Sequence[str], what: str, stdin: str | None = None) -> None:
    result = runner(list(command), input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeBuildError(f"{what} failed (exit code {result.returncode}):\n{_tail(result)}")


def build_image(dockerfile: str | os.PathLike[str], image: str, *, platform: str | None = None,
                extra_args: Sequence[str] = (), push: bool = True, login: RegistryLogin | None = None,
                runner: Runner | None = None, docker: str | None = None, hint: str = "") -> str:
    """Build ``dockerfile`` (its folder is the build context) as ``image`` and push it.

    Args:
        dockerfile: a Dockerfile (from :func:`write_build_context`, or the user's own).
        image: the full image reference, ``registry/repository:tag``.
        platform: ``docker build --platform`` (``linux/amd64``, ``linux/arm64``).
        extra_args: more ``docker build`` arguments.
        push: push after building.
        login: registry credentials, for ``docker login`` before pushing.
        runner: runs the commands (``subprocess.run`` by default; tests pass a fake).
        docker: the docker command (found on ``PATH`` by default).
        hint: another way out, added to the message when no Docker engine is here (a runtime
            kind that needs none).

    Returns:
        ``image``.

    Raises:
        RuntimeBuildError: no Docker engine here (the message holds the exact commands to run on a
            machine that has one), or a docker step failed (with its output).
    """
    path = Path(dockerfile)
    if not path.is_file():
        raise RuntimeBuildError(f"Dockerfile {str(path)!r} does not exist. Give the path of a Dockerfile.")
    run = runner or subprocess.run
    try:
        command = find_docker_engine(docker, run)
    except RuntimeBuildError as exc:
        raise RuntimeBuildError(
            f"Cannot build the image {image} here: {exc}. Build it on a machine with a Docker engine:\n"
            f"  {manual_build_commands(path, image, platform, extra_args, push)}\n"
            "then configure the runtime as that image." + (f" Or {hint}" if hint else "")
        ) from None
    logger.info("Building image %s from %s", image, path)
    build = [command, "build", *(["--platform", platform] if platform else []), "-t", image, "-f", str(path),
             *extra_args, str(path.parent)]
    _run(run, build, "docker build")
    if push:
        if login is not None:
            _run(run, [command, "login", "--username", login.username, "--password-stdin", login.registry],
                 f"docker login to {login.registry}", stdin=login.password)
        _run(run, [command, "push", image], "docker push")
    return image


def build_runtime_image(image: str, file: str | None, distribution: str, *, command: Sequence[str],
                        build_prefix: str = "lithops-build-", platform: str | None = None,
                        extra_args: Sequence[str] = (), login: RegistryLogin | None = None) -> Path:
    """Build and push the image of a container runtime, as ``lithops runtime build`` does.

    ``file`` is the user's Dockerfile (used as is), or a requirements file (a name ending in
    ``.txt``) added to a build context of the client's lithops and ``distribution`` on
    ``python:<the client's Python>-slim`` (:func:`write_build_context`, in a new temporary
    folder), as is no ``file``.

    Args:
        image: the full image reference, ``registry/repository:tag``.
        file: the user's Dockerfile or requirements file, or ``None``.
        distribution: the provider's distribution (``lithops-aws``), copied into the image.
        command: the image's command (``["python", "-m", "lithops.worker", "run-job"]``).
        build_prefix: the name prefix of the temporary build folder.
        platform: ``docker build --platform``.
        extra_args: more ``docker build`` arguments.
        login: registry credentials for the push.

    Returns:
        The Dockerfile the image was built from.

    Raises:
        RuntimeBuildError: as :func:`build_image`, the message also naming the Dockerfile.
    """
    if file is not None and not file.endswith(".txt"):
        dockerfile = Path(file)
    else:
        folder = Path(tempfile.mkdtemp(prefix=build_prefix))
        dockerfile = write_build_context(folder, f"python:{client_python_version()}-slim", [distribution],
                                         requirements=file, command=command)
        logger.info("Wrote the build context of %s in %s", image, folder)
    try:
        build_image(dockerfile, image, platform=platform, extra_args=extra_args, login=login)
    except RuntimeBuildError as exc:
        raise RuntimeBuildError(f"{exc}\n(The Dockerfile is {dockerfile}.)") from None
    return dockerfile
