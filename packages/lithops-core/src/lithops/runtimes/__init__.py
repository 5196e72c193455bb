"""Shared runtime machinery for provider packages: what a FaaS or container runtime is made of,
and the records that say which lithops and Python a deployed runtime runs.

Zip runtimes (AWS Lambda, Cloud Functions, Azure Functions, Code Engine functions)::

    code = lithops_archive("lithops-gcp")               # the client's lithops, with dist-info
    deps = dependencies_archive("lithops-gcp")          # or requirements_archive(file, ...)
    store = RuntimeStore(context.storage, context.bucket, "gcp_functions")
    meta = store.resolve(key, deploy=lambda: ..., content_sha256=code.sha256,
                         fix_command=update_command("gcp_functions", name, context.storage_backend))

Container runtimes (Kubernetes, Cloud Run, Code Engine, AWS Batch, Azure Container Apps)::

    dockerfile = write_build_context(folder, "python:3.11-slim", ["lithops-k8s"],
                                     requirements=user_file,
                                     command=["python", "-m", "lithops.worker", "run-job"])
    build_image(dockerfile, "registry/repo:tag")    # or RuntimeBuildError with the commands to run

See docs/runtimes.md.
"""

from __future__ import annotations

from lithops.runtimes._archive import (
    Archive,
    ArchiveWriter,
    client_requirements,
    dependencies_archive,
    dependency_closure,
    lithops_archive,
    requirements_archive,
    runtime_distributions,
    sha256_b64,
)
from lithops.runtimes._container import (
    IMAGE_LITHOPS_DIR,
    RegistryLogin,
    build_image,
    build_runtime_image,
    dockerfile_text,
    find_docker_engine,
    manual_build_commands,
    write_build_context,
)
from lithops.runtimes._records import (
    RuntimeMeta,
    RuntimeStore,
    client_python_version,
    core_version,
    runtime_object_key,
    update_command,
)

__all__ = [
    "IMAGE_LITHOPS_DIR",
    "Archive",
    "ArchiveWriter",
    "RegistryLogin",
    "RuntimeMeta",
    "RuntimeStore",
    "build_image",
    "build_runtime_image",
    "client_python_version",
    "client_requirements",
    "core_version",
    "dependencies_archive",
    "dependency_closure",
    "dockerfile_text",
    "find_docker_engine",
    "lithops_archive",
    "manual_build_commands",
    "requirements_archive",
    "runtime_distributions",
    "runtime_object_key",
    "sha256_b64",
    "update_command",
    "write_build_context",
]
