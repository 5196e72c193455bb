"""The ``k8s`` configuration section (keys as in Lithops 3's k8s backend, plus a few of ours).

::

    k8s:
        kubecfg_path: ~/.kube/config     # default: $KUBECONFIG, ~/.kube/config, or in-cluster
        kubecfg_context: my-cluster      # default: the kubeconfig's current context
        namespace: lithops
        runtime: registry.example.com/me/lithops-k8s-py311:4.0.0a1
        runtime_cpu: 1
        runtime_memory: 512
        max_workers: 100
"""

from __future__ import annotations

from lithops.spi import CLIENT_TIMEOUT_OPTIONS, ConfigOption

__all__ = ["K8S_OPTIONS"]

K8S_OPTIONS: tuple[ConfigOption, ...] = (
    ConfigOption("kubecfg_path", str, None,
                 "Kubeconfig file; default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service"
                 " account when lithops runs in a pod."),
    ConfigOption("kubecfg_context", str, None, "Kubeconfig context; default: its current-context."),
    ConfigOption("namespace", str, None,
                 "Namespace of the Jobs; default: the context's namespace (in a pod: its own), else `default`."),
    ConfigOption("runtime", str, None,
                 "Container image of the workers (built by `lithops runtime build -b k8s`); default:"
                 " `[docker_server/][docker_user/]lithops-k8s-py<XY>:<lithops version>`."),
    ConfigOption("runtime_cpu", (int, float), 1, "CPUs requested (and limited to) per pod."),
    ConfigOption("runtime_memory", int, 512, "MiB of memory requested and limited per pod (per-map runtime_memory wins)."),
    ConfigOption("runtime_timeout", (int, float), 600, "Largest per-call timeout in seconds."),
    ConfigOption("max_workers", int, 100, "Most pods of one job running at the same time (the Job's parallelism)."),
    ConfigOption("worker_processes", int, 1,
                 "Batches of calls each pod runs at the same time, each in its own process (give the pod as"
                 " many CPUs)."),
    ConfigOption("service_account", str, None, "Service account of the worker pods (for workload identity, IRSA...)."),
    ConfigOption("docker_server", str, None, "Registry of the runtime image, e.g. `docker.io` or `ghcr.io`."),
    ConfigOption("docker_user", str, None, "Registry user: image prefix, `docker login` and the pull secret."),
    ConfigOption("docker_password", str, None,
                 "Registry password or token; lithops keeps it in a Secret `lithops-regcred-<hash>` used as"
                 " the pods' image pull secret.", secret=True),
    ConfigOption("image_pull_secret", str, None, "An existing docker-registry Secret the pods pull the image with."),
    ConfigOption("worker_secret", str, None,
                 "A Secret whose keys become the workers' environment variables (envFrom): storage"
                 " credentials such as AWS_ACCESS_KEY_ID, when the pods have no workload identity."),
    ConfigOption("env_vars", dict, None, "More environment variables of the worker containers."),
    ConfigOption("pending_timeout", (int, float), 300,
                 "Seconds a pod may stay Pending (image pull failure, unschedulable) before its calls fail."),
    ConfigOption("poll_interval", (int, float), 2, "Seconds between two checks of a job's pods for failures."),
    ConfigOption("job_ttl", int, None,
                 "ttlSecondsAfterFinished of the Jobs: the cluster deletes finished Jobs after it (default:"
                 " kept until `lithops clean -b k8s`)."),
    ConfigOption("base_image", str, None, "Base image of `lithops runtime build`; default `python:<XY>-slim`."),
    ConfigOption("build_dir", str, None, "Folder of the build contexts `lithops runtime build` writes; default ~/.lithops/build/k8s."),
    *CLIENT_TIMEOUT_OPTIONS,
)
