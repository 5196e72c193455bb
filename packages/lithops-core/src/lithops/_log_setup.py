"""``setup_lithops_logger``: the ``lithops`` logger's handler, level and format, as Lithops 3
programs set them (re-exported by ``lithops.utils``)."""

from __future__ import annotations

import logging
import sys
from typing import IO

from lithops import constants

__all__ = ["setup_lithops_logger"]

_HANDLER_MARK = "_lithops_handler"


def setup_lithops_logger(log_level: str | int | None = constants.LOGGER_LEVEL,
                         log_format: str = constants.LOGGER_FORMAT,
                         stream: IO[str] | str | None = None, filename: str | None = None) -> None:
    """Send the ``lithops`` logger's records at ``log_level`` and above to ``stream`` (default:
    standard error) or to the file ``filename``; other loggers are left alone.

    A ``log_level`` of ``None`` or ``'none'`` leaves logging untouched. Calling it again replaces
    the handler it installed before.
    """
    if log_level is None or str(log_level).lower() == "none":
        return
    level = log_level if isinstance(log_level, int) else logging.getLevelName(str(log_level).upper())
    if not isinstance(level, int):
        raise ValueError(f"Unknown log level {log_level!r}: use one of {', '.join(constants.LOGGER_LEVEL_CHOICES)}")
    handler: logging.Handler
    if filename is not None:
        handler = logging.FileHandler(filename, mode="a")
    else:
        if stream is None or stream == constants.LOGGER_STREAM:
            stream = sys.stderr
        elif stream == "ext://sys.stdout":
            stream = sys.stdout
        if isinstance(stream, str):
            raise ValueError(f"stream must be a file object, 'ext://sys.stderr' or 'ext://sys.stdout', not {stream!r}")
        handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(log_format))
    handler.setLevel(level)
    setattr(handler, _HANDLER_MARK, True)
    logger = logging.getLogger("lithops")
    for old in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
