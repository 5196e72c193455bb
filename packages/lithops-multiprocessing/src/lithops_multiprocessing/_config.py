"""The ``redis`` config section: where ``lithops.multiprocessing`` keeps its shared state.

Registered in core's ``lithops.config_sections`` entry point group, so a ``redis`` section in the
lithops configuration is validated like any other::

    redis:
      host: 127.0.0.1
      port: 6379
      password: ...        # secret: never logged, never put into invocation payloads
      expiry_time: 3600    # seconds a crashed program's objects survive in Redis
"""

from __future__ import annotations

from lithops.spi import ConfigOption

REDIS_OPTIONS: tuple[ConfigOption, ...] = (
    ConfigOption("host", str, "127.0.0.1",
                 "Redis server host. Remote workers must reach it: use an address they can route to."),
    ConfigOption("port", int, 6379, "Redis server port."),
    ConfigOption("db", int, 0, "Redis database number."),
    ConfigOption("username", str, None, "Redis ACL user name (Redis 6+), if the server uses ACLs."),
    ConfigOption("password", str, None,
                 "Redis password. Workers on other hosts read it from their own lithops config or"
                 " from the LITHOPS_REDIS_PASSWORD environment variable.", secret=True),
    ConfigOption("ssl", bool, False, "Connect with TLS."),
    ConfigOption("socket_connect_timeout", (int, float), 5.0,
                 "Seconds to wait for a connection before reporting Redis unreachable.",
                 minimum=0, minimum_exclusive=True),
    ConfigOption("socket_timeout", (int, float), 10.0,
                 "Seconds to wait for the answer to a command before reporting Redis unavailable"
                 " (a blocking get/acquire waits its own timeout plus 1 s instead).",
                 minimum=0, minimum_exclusive=True),
    ConfigOption("expiry_time", int, 3600,
                 "Seconds the keys of a program live in Redis without being refreshed. A running"
                 " program refreshes them; a crashed one leaves nothing behind after this time."),
)
