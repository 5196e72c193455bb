"""``lithops.constants``: the constants Lithops 3 programs import, with this implementation's
values (the default mode and storage are localhost here: no configuration runs locally)."""

from __future__ import annotations

import os
import tempfile

from lithops._keys import JOBS_PREFIX, RUNTIMES_PREFIX
from lithops.config import DEFAULT_BACKEND_BY_MODE
from lithops.worker.marker import WORKER_ENV

LOGGER_LEVEL = "info"
LOGGER_STREAM = "ext://sys.stderr"
LOGGER_FORMAT = "%(asctime)s [%(levelname)s] %(filename)s:%(lineno)s -- %(message)s"
LOGGER_FORMAT_SHORT = "[%(levelname)s] %(filename)s:%(lineno)s -- %(message)s"
LOGGER_LEVEL_CHOICES = ("debug", "info", "warning", "error", "critical")

LOCALHOST = "localhost"
SERVERLESS = "serverless"
STANDALONE = "standalone"
MODE_DEFAULT = LOCALHOST
SERVERLESS_BACKEND_DEFAULT = DEFAULT_BACKEND_BY_MODE[SERVERLESS]
STANDALONE_BACKEND_DEFAULT = DEFAULT_BACKEND_BY_MODE[STANDALONE]
STORAGE_BACKEND_DEFAULT = "localhost"

CPU_COUNT = os.cpu_count()
WORKER_PROCESSES_DEFAULT = 1

TEMP_PREFIX = f"{JOBS_PREFIX}/tmp"
LOGS_PREFIX = "lithops.logs"

TEMP_DIR = os.path.realpath(tempfile.gettempdir())
LITHOPS_TEMP_DIR = os.path.join(TEMP_DIR, f"lithops-{os.getuid()}")
MODULES_DIR = os.path.join(LITHOPS_TEMP_DIR, "modules")
HOME_DIR = os.path.expanduser("~")
CONFIG_DIR = os.path.join(HOME_DIR, ".lithops")
CACHE_DIR = os.path.join(CONFIG_DIR, "cache")
CONFIG_FILE = os.path.join(CONFIG_DIR, "config")
CONFIG_FILE_GLOBAL = "/etc/lithops/config"

SERVERLESS_BACKENDS = ("aws_lambda", "aws_batch", "gcp_functions", "gcp_cloudrun", "azure_functions",
                       "azure_containers", "code_engine", "k8s", "ray")
STANDALONE_BACKENDS = ("ibm_vpc", "aws_ec2", "azure_vms", "gcp_compute_engine", "vm")

__all__ = [
    "CACHE_DIR", "CONFIG_DIR", "CONFIG_FILE", "CONFIG_FILE_GLOBAL", "CPU_COUNT", "HOME_DIR", "JOBS_PREFIX",
    "LITHOPS_TEMP_DIR", "LOCALHOST", "LOGGER_FORMAT", "LOGGER_FORMAT_SHORT", "LOGGER_LEVEL",
    "LOGGER_LEVEL_CHOICES", "LOGGER_STREAM", "LOGS_PREFIX", "MODE_DEFAULT", "MODULES_DIR", "RUNTIMES_PREFIX",
    "SERVERLESS", "SERVERLESS_BACKENDS", "SERVERLESS_BACKEND_DEFAULT", "STANDALONE", "STANDALONE_BACKENDS",
    "STANDALONE_BACKEND_DEFAULT", "STORAGE_BACKEND_DEFAULT", "TEMP_DIR", "TEMP_PREFIX", "WORKER_ENV",
    "WORKER_PROCESSES_DEFAULT",
]
