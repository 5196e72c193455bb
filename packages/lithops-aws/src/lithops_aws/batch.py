"""The ``aws_batch`` compute backend: one AWS Batch array job per lithops job.

boto3 is imported when a backend is created, never when this module is imported. Configuration
(``aws_batch`` section; credentials and ``region`` left unset come from the shared ``aws`` section,
then from the boto3 credential chain)::

    aws_batch:
        execution_role: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
        subnets: [subnet-0123]
        security_groups: [sg-0123]
        env_type: FARGATE_SPOT
        runtime_cpu: 0.5
        runtime_memory: 1024

The backend creates one managed compute environment and one job queue (named from their settings,
tagged ``lithops=aws_batch`` and reused; a resource of that name without the tag is refused), and
one job definition per runtime image and memory, whose command is ``python -m lithops.worker
run-job``. A lithops job is stored once (:func:`lithops.spi.store_job_payload`) and submitted as ONE
job: an array job with one index per batch of calls (a plain job for a single batch: Batch arrays
have at least 2 indices). Workers read the payload reference from their environment and storage
credentials from the job role. A watcher (:mod:`lithops_aws._batch_watch`) fails the calls of
failed, reclaimed or stuck indices. See docs/backends/aws_batch.md.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from lithops.errors import (
    ConfigError,
    InvocationError,
    InvocationThrottledError,
    LithopsError,
)
from lithops.runtimes import (
    RegistryLogin,
    RuntimeMeta,
    RuntimeStore,
    build_runtime_image,
    client_python_version,
    core_version,
    update_command,
)
from lithops.spi import (
    CLIENT_TIMEOUT_OPTIONS,
    Capability,
    ClientTimeouts,
    ComputeContext,
    ConfigOption,
    JobSpec,
    ReportSink,
    RuntimeInfo,
    store_job_payload,
)
from lithops.worker import (
    JOB_PAYLOAD_ENV,
    PROBE_ENV,
    WORKER_ENV,
    RuntimeProbe,
    WorkerEnvironment,
    fail_unreported_calls,
)

from lithops_aws._batch_resources import ENV_TYPES, FARGATE_TYPES, resource_name, resource_requirements
from lithops_aws._batch_watch import DONE, BatchJobWatcher, WatchedJob, index_error
from lithops_aws.config import (
    ACCESS_KEY_ID,
    ACCOUNT_ID,
    CONFIG_PROFILE,
    CREDENTIAL_OPTIONS,
    REGION,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
)

__all__ = ["BATCH_OPTIONS", "BatchBackend"]

logger = logging.getLogger(__name__)

BACKEND = "aws_batch"
WORKER_COMMAND = ["python", "-m", "lithops.worker", "run-job"]
#: The tag that marks compute environments, job queues and job definitions as lithops'.
OWNER_TAG = ("lithops", BACKEND)
#: vCPUs of a container when neither runtime_cpu nor container_vcpus is set.
DEFAULT_CPU = 0.5
#: Batch's largest array job.
MAX_ARRAY_SIZE = 10000
_THROTTLED = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling"})
_ROLE_DOC = "docs/backends/aws_batch.md lists the roles and policies"

BATCH_OPTIONS: tuple[ConfigOption, ...] = (
    REGION,
    *CREDENTIAL_OPTIONS,
    ACCOUNT_ID,
    ConfigOption("execution_role", str, None,
                 "ARN of the ECS task execution role (pulls the image from ECR, writes logs); required for"
                 f" FARGATE and FARGATE_SPOT ({_ROLE_DOC})."),
    ConfigOption("job_role", str, None,
                 "ARN of the role the containers run as (their storage access); default: execution_role."),
    ConfigOption("instance_role", str, None, "ECS instance profile of EC2 and SPOT compute environments."),
    ConfigOption("service_role", str, None,
                 "ARN of the AWS Batch service role; default: Batch's service-linked role."),
    ConfigOption("env_type", str, "FARGATE_SPOT", "Compute environment type.", choices=ENV_TYPES),
    ConfigOption("env_max_cpus", int, 10, "Most vCPUs the compute environment runs at once."),
    ConfigOption("instance_types", list, ["optimal"], "EC2 instance types of EC2 and SPOT environments."),
    ConfigOption("assign_public_ip", bool, True,
                 "Give Fargate containers a public IP (needed to reach ECR and S3 without a NAT gateway)."),
    ConfigOption("subnets", list, None, "Subnet ids of the compute environment (needed to create it)."),
    ConfigOption("security_groups", list, None, "Security group ids of the compute environment."),
    ConfigOption("runtime", str, None,
                 "Container image of the workers; a bare repository[:tag] is in this account's ECR. Default: the"
                 " image `lithops runtime build -b aws_batch` makes,"
                 " <account>.dkr.ecr.<region>.amazonaws.com/lithops-batch-default:<version>."),
    ConfigOption("runtime_cpu", (int, float), None,
                 f"vCPUs of each container (Fargate: 0.25, 0.5, 1, 2, 4, 8 or 16; EC2: whole vCPUs); default:"
                 f" container_vcpus, else {DEFAULT_CPU:g}."),
    ConfigOption("container_vcpus", (int, float), None, "Lithops 3 name of runtime_cpu."),
    ConfigOption("runtime_memory", int, 1024,
                 "Memory of each container in MiB; on Fargate, a combination valid with runtime_cpu."),
    ConfigOption("runtime_timeout", (int, float), 180, "Longest a call may run, in seconds."),
    ConfigOption("max_workers", int, 100, "Containers running at once: batches of calls are sized for this."),
    ConfigOption("worker_processes", int, 1, "Accepted for compatibility: the calls of an index run one by one."),
    ConfigOption("runnable_timeout", (int, float), 600,
                 "Seconds a job may wait RUNNABLE without progress (no capacity, wrong subnet) before its"
                 " calls fail with Batch's status reason."),
    ConfigOption("poll_interval", (int, float), 2.0, "Seconds between two looks at running jobs."),
    ConfigOption("endpoint", str, None, "URL of the AWS APIs (Batch, ECR, STS) for emulators; default: AWS."),
    *CLIENT_TIMEOUT_OPTIONS,
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "runtime"


def _client_error(exc: BaseException) -> tuple[str, str]:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error") or {}
        return str(error.get("Code") or ""), str(error.get("Message") or "")
    return "", str(exc)


class BatchBackend:
    """Runs each lithops job as one AWS Batch array job, one array index per batch of calls.

    Args:
        config: the validated ``aws_batch`` section.
        context: the storage and lithops settings of the executor.
    """

    name: ClassVar[str] = BACKEND
    default_storage: ClassVar[str] = "aws_s3"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.JOB, Capability.RUNTIME_BUILD, Capability.MEMORY_CONFIG})
    config_options: ClassVar[tuple[ConfigOption, ...]] = BATCH_OPTIONS
    config_inherits: ClassVar[tuple[str, ...]] = ("aws",)

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        import boto3
        from botocore.config import Config

        self.config = dict(config)
        self.context = context
        self.env_type = str(self.config.get("env_type") or "FARGATE_SPOT")
        cpu = self.config.get("runtime_cpu")
        if cpu is None:
            cpu = self.config.get("container_vcpus")
        self.cpu = float(cpu if cpu is not None else DEFAULT_CPU)
        self.memory = int(self.config.get("runtime_memory") or 1024)
        resource_requirements(self.env_type, self.cpu, self.memory)  # refuse a bad combination now
        self.timeout = float(self.config.get("runtime_timeout") or 180)
        self.max_workers = int(self.config.get("max_workers") or 100)
        self.endpoint: str | None = self.config.get("endpoint")
        session = boto3.session.Session(
            aws_access_key_id=self.config.get(ACCESS_KEY_ID.name),
            aws_secret_access_key=self.config.get(SECRET_ACCESS_KEY.name),
            aws_session_token=self.config.get(SESSION_TOKEN.name),
            region_name=self.config.get(REGION.name),
            profile_name=self.config.get(CONFIG_PROFILE.name),
        )
        self.region: str = session.region_name or "us-east-1"
        timeouts = ClientTimeouts.from_config(self.config)
        client_config = Config(retries={"max_attempts": timeouts.attempts, "mode": "standard"},
                               connect_timeout=timeouts.connect, read_timeout=timeouts.read)
        self._session = session
        self._client_config = client_config
        self.batch: Any = session.client("batch", region_name=self.region, endpoint_url=self.endpoint,
                                         config=client_config)
        self.runtimes = RuntimeStore(context.storage, context.bucket, BACKEND)
        self._lock = threading.RLock()
        self._queue_arn: str | None = None
        self._definitions: dict[str, str] = {}
        self._account: str | None = self.config.get(ACCOUNT_ID.name)
        self._reporter = WorkerEnvironment({context.storage_backend: dict(context.storage_private_config)})
        self.watcher = BatchJobWatcher(self.batch, self._fail_batch,
                                       float(self.config.get("runnable_timeout") or 600),
                                       float(self.config.get("poll_interval") or 2.0))

    def __repr__(self) -> str:
        return f"<BatchBackend {self.env_type} at {self.endpoint or 'AWS ' + self.region}>"

    def _client(self, service: str) -> Any:
        return self._session.client(service, region_name=self.region, endpoint_url=self.endpoint,
                                    config=self._client_config)

    # names
    @property
    def environment_name(self) -> str:
        """The compute environment lithops creates for these settings (its queue adds ``-queue``)."""
        settings = (self.env_type, sorted(self.config.get("subnets") or []),
                    sorted(self.config.get("security_groups") or []), self.config.get("instance_role"),
                    self.config.get("service_role"), int(self.config.get("env_max_cpus") or 10),
                    sorted(self.config.get("instance_types") or ["optimal"]))
        return resource_name(f"lithops-{self.env_type.lower().replace('_', '-')}", json.dumps(settings))

    def _account_id(self) -> str:
        if self._account is None:
            self._account = str(self._client("sts").get_caller_identity()["Account"])
        return self._account

    def _registry(self) -> str:
        return f"{self._account_id()}.dkr.ecr.{self.region}.amazonaws.com"

    def _default_image(self) -> str:
        return f"{self._registry()}/lithops-batch-default:{_slug(core_version())}-py{client_python_version()}"

    def _image(self, runtime_name: str | None) -> str:
        """The full image reference of a runtime: a bare ``repository[:tag]`` is in this account's ECR."""
        image = str(runtime_name or self.config.get("runtime") or "")
        if not image or image == "default":
            return self._default_image()
        host = image.split("/", 1)[0]
        if "/" not in image or not ("." in host or ":" in host or host == "localhost"):
            tagged = image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest"
            return f"{self._registry()}/{tagged}"
        return image

    def get_runtime_key(self, runtime_name: str, runtime_memory: int | None) -> str:
        memory = runtime_memory or self.memory
        image = self._image(runtime_name)
        return f"{self.region}/{resource_name(_slug(image.rsplit('/', 1)[-1]), image)}-{self.cpu:g}cpu-{memory}mb"

    def _definition_name(self, image: str, memory: int) -> str:
        return resource_name(f"lithops-{_slug(image.rsplit('/', 1)[-1])}", image, self.env_type in FARGATE_TYPES,
                             self.cpu, memory, self.config.get("execution_role"), self.config.get("job_role"),
                             self.config.get("assign_public_ip", True), core_version())

    # owned resources
    def _check_owned(self, kind: str, name: str, arn: str, tags: Mapping[str, str] | None = None) -> None:
        if tags is None:
            tags = self.batch.list_tags_for_resource(resourceArn=arn).get("tags") or {}
        if tags.get(OWNER_TAG[0]) != OWNER_TAG[1]:
            raise ConfigError(
                f"An AWS Batch {kind} named {name} already exists in {self.region} and was not created by lithops"
                f" (it lacks the tag {OWNER_TAG[0]}={OWNER_TAG[1]}); lithops will not use or change it. Delete or"
                " rename it, or change the settings it is named from (env_type, subnets, security_groups,"
                " env_max_cpus...).")

    def _wait_valid(self, kind: str, describe: Any, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + 300
        while True:
            found = describe(name)
            if found is not None and found.get("status") == "VALID":
                return dict(found)
            if found is not None and found.get("status") == "INVALID":
                raise ConfigError(f"AWS Batch made the {kind} {name} INVALID: {found.get('statusReason')}. Fix the"
                                  f" settings it names ({_ROLE_DOC}), then run `lithops clean -b aws_batch --all`.")
            if time.monotonic() > deadline:
                raise InvocationError(f"The AWS Batch {kind} {name} did not become VALID within 300 s"
                                      f" (it is {None if found is None else found.get('status')}).")
            time.sleep(1.0)

    def _environment(self, name: str) -> dict[str, Any] | None:
        found = self.batch.describe_compute_environments(computeEnvironments=[name]).get("computeEnvironments", [])
        return dict(found[0]) if found else None

    def _queue(self, name: str) -> dict[str, Any] | None:
        found = self.batch.describe_job_queues(jobQueues=[name]).get("jobQueues", [])
        return dict(found[0]) if found else None

    def job_queue(self) -> str:
        """The ARN of lithops' job queue, creating it and its compute environment once."""
        with self._lock:
            if self._queue_arn is None:
                self._queue_arn = self._ensure_queue()
            return self._queue_arn

    def _ensure_queue(self) -> str:
        env_name = self.environment_name
        queue_name = f"{env_name}-queue"
        queue = self._queue(queue_name)
        if queue is not None:
            self._check_owned("job queue", queue_name, str(queue["jobQueueArn"]), queue.get("tags"))
            return str(queue["jobQueueArn"])
        environment = self._environment(env_name)
        if environment is None:
            environment = self._create_environment(env_name)
        else:
            self._check_owned("compute environment", env_name, str(environment["computeEnvironmentArn"]),
                              environment.get("tags"))
            environment = self._wait_valid("compute environment", self._environment, env_name)
        logger.info("Creating AWS Batch job queue %s", queue_name)
        try:
            self.batch.create_job_queue(
                jobQueueName=queue_name, state="ENABLED", priority=1, tags=dict([OWNER_TAG]),
                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}])
        except Exception as exc:
            raise self._refused("create the job queue", queue_name, exc) from exc
        return str(self._wait_valid("job queue", self._queue, queue_name)["jobQueueArn"])

    def _create_environment(self, name: str) -> dict[str, Any]:
        subnets = list(self.config.get("subnets") or [])
        groups = list(self.config.get("security_groups") or [])
        if not subnets or not groups:
            raise ConfigError(
                "The 'aws_batch' section needs 'subnets' and 'security_groups' (ids of your VPC) to create the"
                f" compute environment {name}: Batch runs the containers in them.")
        resources: dict[str, Any] = {"type": self.env_type, "maxvCpus": int(self.config.get("env_max_cpus") or 10),
                                     "subnets": subnets, "securityGroupIds": groups}
        if self.env_type not in FARGATE_TYPES:
            role = self.config.get("instance_role")
            if not role:
                raise ConfigError(f"env_type {self.env_type} needs 'instance_role' in the 'aws_batch' section: the"
                                  f" ECS instance profile of the EC2 instances ({_ROLE_DOC}).")
            resources.update(minvCpus=0, instanceRole=role, instanceTypes=list(self.config.get("instance_types")
                                                                                or ["optimal"]),
                             allocationStrategy="SPOT_CAPACITY_OPTIMIZED" if self.env_type == "SPOT"
                             else "BEST_FIT_PROGRESSIVE", tags={OWNER_TAG[0]: OWNER_TAG[1]})
        arguments: dict[str, Any] = {"computeEnvironmentName": name, "type": "MANAGED", "state": "ENABLED",
                                     "computeResources": resources, "tags": dict([OWNER_TAG])}
        if self.config.get("service_role"):
            arguments["serviceRole"] = self.config["service_role"]
        logger.info("Creating AWS Batch compute environment %s (%s)", name, self.env_type)
        try:
            self.batch.create_compute_environment(**arguments)
        except Exception as exc:
            raise self._refused("create the compute environment", name, exc) from exc
        return self._wait_valid("compute environment", self._environment, name)

    def _refused(self, what: str, name: str, exc: Exception) -> LithopsError:
        code, message = _client_error(exc)
        if code in _THROTTLED:
            return InvocationThrottledError(f"AWS Batch throttled a request to {what} {name}: {code}")
        return ConfigError(f"AWS Batch refused to {what} {name} ({code or type(exc).__name__}): {message}."
                           f" Check the 'aws_batch' section ({_ROLE_DOC}).")

    def _ensure_definition(self, image: str, memory: int) -> str:
        name = self._definition_name(image, memory)
        with self._lock:
            if name in self._definitions:
                return self._definitions[name]
            found = self.batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE").get(
                "jobDefinitions", [])
            if found:
                latest = max(found, key=lambda d: int(d["revision"]))
                self._check_owned("job definition", name, str(latest["jobDefinitionArn"]), latest.get("tags"))
                arn = str(latest["jobDefinitionArn"])
            else:
                arn = self._register_definition(name, image, memory)
            self._definitions[name] = arn
            return arn

    def _register_definition(self, name: str, image: str, memory: int) -> str:
        fargate = self.env_type in FARGATE_TYPES
        execution_role = self.config.get("execution_role")
        if fargate and not execution_role:
            raise ConfigError(f"env_type {self.env_type} needs 'execution_role' in the 'aws_batch' section: the ECS"
                              f" task execution role that pulls the image from ECR ({_ROLE_DOC}).")
        container: dict[str, Any] = {
            "image": image, "command": WORKER_COMMAND,
            "resourceRequirements": resource_requirements(self.env_type, self.cpu, memory),
            "environment": [{"name": WORKER_ENV, "value": "1"}, {"name": "PYTHONUNBUFFERED", "value": "1"}],
        }
        job_role = self.config.get("job_role") or execution_role
        if job_role:
            container["jobRoleArn"] = job_role
        if execution_role:
            container["executionRoleArn"] = execution_role
        if fargate:
            public = "ENABLED" if self.config.get("assign_public_ip", True) else "DISABLED"
            container["networkConfiguration"] = {"assignPublicIp": public}
            container["fargatePlatformConfiguration"] = {"platformVersion": "LATEST"}
        logger.info("Registering AWS Batch job definition %s for image %s", name, image)
        try:
            response = self.batch.register_job_definition(
                jobDefinitionName=name, type="container", containerProperties=container,
                platformCapabilities=["FARGATE" if fargate else "EC2"], retryStrategy={"attempts": 1},
                propagateTags=True, tags={OWNER_TAG[0]: OWNER_TAG[1], "lithops_version": core_version()})
        except Exception as exc:
            raise self._refused("register the job definition", name, exc) from exc
        return str(response["jobDefinitionArn"])

    # runtimes
    def get_runtime_info(self) -> RuntimeInfo:
        image = self._image(None)
        key = self.get_runtime_key(image, self.memory)
        meta = self.runtimes.resolve(key, lambda: self._deploy(image, self.memory),
                                     update_command(BACKEND, image, self.context.storage_backend))
        return RuntimeInfo(runtime_name=image, runtime_memory=self.memory, runtime_timeout=self.timeout,
                           max_workers=self.max_workers, python_version=meta.python_version,
                           lithops_version=meta.lithops_version)

    def deploy_runtime(self, runtime_name: str, memory: int | None, timeout: float) -> dict[str, Any]:
        image = self._image(runtime_name)
        meta = self._deploy(image, int(memory or self.memory))
        self.runtimes.save(meta)
        return meta.to_json()

    def _deploy(self, image: str, memory: int) -> RuntimeMeta:
        """Register the job definition and ask the image what it runs (a one-task probe job)."""
        definition = self._ensure_definition(image, memory)
        queue = self.job_queue()
        probe = RuntimeProbe(self.context, BACKEND, image)
        logger.info("Probing runtime image %s with a one-task AWS Batch job", image)
        job = self._submit(jobName=resource_name("lithops-probe", image)[:128], jobQueue=queue,
                           jobDefinition=definition, tags=dict([OWNER_TAG]),
                           containerOverrides={"command": ["python", "-m", "lithops.worker", "probe"],
                                               "environment": [{"name": PROBE_ENV, "value": probe.request}]})
        try:
            self._wait_for_probe(job, image, memory)
            record = probe.record()
        finally:
            probe.discard()
        return RuntimeMeta(backend=BACKEND, runtime_name=image, runtime_key=self.get_runtime_key(image, memory),
                           python_version=record["python_version"], lithops_version=record["lithops_version"],
                           runtime_memory=memory, runtime_timeout=self.timeout,
                           details={"job_definition": definition, "job_queue": queue, "cpu": self.cpu,
                                    "env_type": self.env_type})

    def _wait_for_probe(self, job_id: str, image: str, memory: int) -> None:
        grace = self.watcher.runnable_timeout
        deadline = time.monotonic() + grace + self.timeout
        while True:
            found = self.batch.describe_jobs(jobs=[job_id]).get("jobs", [])
            description = found[0] if found else {}
            status = description.get("status")
            if status == "SUCCEEDED":
                return
            if status == "FAILED":
                error = index_error(description, f"probe job {job_id}", memory, self.timeout)
                raise InvocationError(f"The runtime image {image} could not run in AWS Batch: {error}")
            if time.monotonic() > deadline:
                self.batch.terminate_job(jobId=job_id, reason="lithops: the runtime probe did not finish")
                raise InvocationError(
                    f"The runtime image {image} did not run in AWS Batch within {grace + self.timeout:g} s (probe job"
                    f" {job_id} is {status}: {description.get('statusReason') or 'no reason given'}).")
            time.sleep(min(self.watcher.poll_interval, 0.5))

    def build_runtime(self, runtime_name: str, file: str | None, extra_args: Sequence[str]) -> None:
        """Write a Dockerfile (the client's lithops, plus a requirements file when ``file`` is one),
        create the ECR repository, and build and push the image with docker where an engine runs.

        Raises:
            RuntimeBuildError: no Docker engine here; the message holds the commands to run elsewhere
                and the folder holding the Dockerfile.
        """
        image = self._image(runtime_name)
        dockerfile = build_runtime_image(image, file, "lithops-aws", command=WORKER_COMMAND,
                                         build_prefix="lithops-batch-build-", platform="linux/amd64",
                                         extra_args=extra_args, login=self._ecr_login(image))
        self.runtimes.save(RuntimeMeta(backend=BACKEND, runtime_name=image,
                                       runtime_key=self.get_runtime_key(image, self.memory),
                                       python_version=client_python_version(), lithops_version=core_version(),
                                       runtime_memory=self.memory, runtime_timeout=self.timeout,
                                       details={"built_from": str(dockerfile)}))

    def _ecr_login(self, image: str) -> RegistryLogin | None:
        """The ECR repository of ``image`` (created when missing) and a login for it; ``None`` for an
        image outside ECR."""
        import base64

        registry, _, rest = image.partition("/")
        if ".dkr.ecr." not in registry:
            return None
        ecr = self._client("ecr")
        repository = rest.rsplit(":", 1)[0]
        try:
            ecr.create_repository(repositoryName=repository, tags=[{"Key": OWNER_TAG[0], "Value": OWNER_TAG[1]}])
        except ecr.exceptions.RepositoryAlreadyExistsException:
            pass
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        user, _, password = base64.b64decode(token).decode().partition(":")
        return RegistryLogin(registry, user, password)

    def delete_runtime(self, runtime_name: str, memory: int | None) -> None:
        image = self._image(runtime_name)
        name = self._definition_name(image, memory or self.memory)
        for definition in self.batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE").get(
                "jobDefinitions", []):
            self.batch.deregister_job_definition(jobDefinition=definition["jobDefinitionArn"])
        self._definitions.pop(name, None)
        self.runtimes.delete(self.get_runtime_key(image, memory))

    def list_runtimes(self, runtime_name: str = "all") -> list[tuple[str, int | None, str]]:
        return [(meta.runtime_name, meta.runtime_memory, meta.lithops_version) for meta in self.runtimes.list()
                if runtime_name in ("all", meta.runtime_name)]

    # jobs
    def _submit(self, **arguments: Any) -> str:
        try:
            response = self.batch.submit_job(**arguments)
        except Exception as exc:
            code, message = _client_error(exc)
            if code in _THROTTLED:
                raise InvocationThrottledError(f"AWS Batch throttled SubmitJob: {code}") from exc
            raise InvocationError(f"AWS Batch refused to submit job {arguments.get('jobName')}"
                                  f" ({code or type(exc).__name__}): {message}") from exc
        return str(response["jobId"])

    def invoke_job(self, job: JobSpec, sink: ReportSink | None) -> None:
        """Store the job and submit it as one array job with one index per batch."""
        image = self._image(job.runtime_name or None)
        memory = int(job.runtime_memory or self.memory)
        requirements = resource_requirements(self.env_type, self.cpu, memory)
        definition = self._ensure_definition(image, self.memory)
        queue = self.job_queue()
        reference = store_job_payload(self.context, job)
        batches = len(job.batches)
        size = min(batches, MAX_ARRAY_SIZE)
        # A plain job (one batch: Batch arrays have at least 2 indices) has no AWS_BATCH_JOB_ARRAY_INDEX.
        command = WORKER_COMMAND + (["--tasks", str(size)] if batches > size else []) + (
            ["--index", "0"] if size < 2 else [])
        overrides: dict[str, Any] = {"command": command,
                                     "environment": [{"name": JOB_PAYLOAD_ENV, "value": reference}]}
        if memory != self.memory:
            overrides["resourceRequirements"] = requirements
        per_task = math.ceil(batches / size) * max(len(batch.call_ids) for batch in job.batches)
        arguments: dict[str, Any] = {
            "jobName": re.sub(r"[^A-Za-z0-9_-]", "-", f"lithops-{job.executor_id}-{job.job_id}")[:128],
            "jobQueue": queue, "jobDefinition": definition, "containerOverrides": overrides,
            "timeout": {"attemptDurationSeconds": max(60, math.ceil(per_task * job.timeout + 120))},
            "retryStrategy": {"attempts": 1}, "tags": {OWNER_TAG[0]: OWNER_TAG[1], "lithops_job": job.job_key},
            "propagateTags": True,
        }
        if size >= 2:
            arguments["arrayProperties"] = {"size": size}
        job_id = self._submit(**arguments)
        logger.info("Job %s: AWS Batch job %s with %d array indices (%d calls)", job.job_key, job_id,
                    size if size >= 2 else 1, job.total_calls)
        self.watcher.watch(WatchedJob(job_id, job, size if size >= 2 else 0, memory))

    def _fail_batch(self, job: JobSpec, index: int, error: BaseException) -> None:
        """Fail the calls of batch ``index`` that reported nothing."""
        if not 0 <= index < len(job.batches):
            return
        fail_unreported_calls([job.batches[index]], self._reporter, error)

    def clear(self, job_keys: Sequence[str] | None = None) -> None:
        """Terminate the Batch jobs of ``job_keys`` (all of this backend's, with ``None``)."""
        for item in self.watcher.forget(job_keys):
            try:
                self.batch.terminate_job(jobId=item.job_id, reason="lithops: the executor stopped the job")
            except Exception as exc:
                logger.warning("Could not terminate AWS Batch job %s: %s", item.job_id, exc)

    def clean(self, all: bool = False) -> None:
        """Terminate lithops' unfinished jobs in its queue; with ``all``, also delete its job queue,
        compute environment, job definitions and runtime records."""
        self.clear(None)
        queue_name = f"{self.environment_name}-queue"
        queue = self._queue(queue_name)
        if queue is not None and (queue.get("tags") or self.batch.list_tags_for_resource(
                resourceArn=queue["jobQueueArn"]).get("tags") or {}).get(OWNER_TAG[0]) == OWNER_TAG[1]:
            for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"):
                for page in self.batch.get_paginator("list_jobs").paginate(jobQueue=queue_name, jobStatus=status):
                    for summary in page.get("jobSummaryList", []):
                        if str(summary.get("jobName", "")).startswith("lithops-") and summary.get("status") not in DONE:
                            self.batch.terminate_job(jobId=summary["jobId"], reason="lithops clean")
        if not all:
            return
        self._delete_queue_and_environment(queue_name, queue)
        for page in self.batch.get_paginator("describe_job_definitions").paginate(status="ACTIVE"):
            for definition in page.get("jobDefinitions", []):
                name = str(definition.get("jobDefinitionName", ""))
                tags = definition.get("tags") or {}
                if name.startswith("lithops-") and tags.get(OWNER_TAG[0]) == OWNER_TAG[1]:
                    self.batch.deregister_job_definition(jobDefinition=definition["jobDefinitionArn"])
        for meta in self.runtimes.list():
            self.runtimes.delete(meta.runtime_key)
        with self._lock:
            self._definitions.clear()
            self._queue_arn = None

    def _delete_queue_and_environment(self, queue_name: str, queue: Mapping[str, Any] | None) -> None:
        env_name = self.environment_name
        if queue is not None:
            self._check_owned("job queue", queue_name, str(queue["jobQueueArn"]), queue.get("tags"))
            logger.info("Deleting AWS Batch job queue %s", queue_name)
            self.batch.update_job_queue(jobQueue=queue_name, state="DISABLED")
            self._wait_settled(self._queue, queue_name)
            self.batch.delete_job_queue(jobQueue=queue_name)
            self._wait_gone(self._queue, queue_name)
        environment = self._environment(env_name)
        if environment is not None:
            self._check_owned("compute environment", env_name, str(environment["computeEnvironmentArn"]),
                              environment.get("tags"))
            logger.info("Deleting AWS Batch compute environment %s", env_name)
            self.batch.update_compute_environment(computeEnvironment=env_name, state="DISABLED")
            self._wait_settled(self._environment, env_name)
            self.batch.delete_compute_environment(computeEnvironment=env_name)
            self._wait_gone(self._environment, env_name)

    @staticmethod
    def _wait_settled(describe: Any, name: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while (found := describe(name)) is not None and found.get("status") in ("CREATING", "UPDATING"):
            if time.monotonic() > deadline:
                raise InvocationError(f"AWS Batch resource {name} is still {found.get('status')} after {timeout:g} s")
            time.sleep(1.0)

    @staticmethod
    def _wait_gone(describe: Any, name: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while (found := describe(name)) is not None and found.get("status") != "DELETED":
            if time.monotonic() > deadline:
                raise InvocationError(f"AWS Batch resource {name} is still {found.get('status')} after {timeout:g} s")
            time.sleep(1.0)
