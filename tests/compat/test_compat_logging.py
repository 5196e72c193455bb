"""``lithops.utils.setup_lithops_logger``, as Lithops' examples call it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from lithops.utils import setup_lithops_logger


@pytest.fixture(autouse=True)
def restore_lithops_logger() -> Iterator[None]:
    logger = logging.getLogger("lithops")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:], logger.level, logger.propagate = saved


def test_stream_and_level() -> None:
    stream = io.StringIO()
    setup_lithops_logger(logging.DEBUG, stream=stream)
    logging.getLogger("lithops.compat").debug("hello %s", "there")
    logging.getLogger("other").warning("not ours")
    assert "hello there" in stream.getvalue() and "not ours" not in stream.getvalue()
    setup_lithops_logger("warning", stream=stream)  # replaces the handler, does not add one
    logging.getLogger("lithops.compat").info("quiet")
    assert "quiet" not in stream.getvalue()
    assert sum(isinstance(h, logging.StreamHandler) for h in logging.getLogger("lithops").handlers) >= 1


def test_file_and_none(tmp_path: Path) -> None:
    log_file = tmp_path / "lithops.log"
    setup_lithops_logger("INFO", filename=str(log_file))
    logging.getLogger("lithops.compat").info("to the file")
    for handler in logging.getLogger("lithops").handlers:
        handler.flush()
    assert "to the file" in log_file.read_text()
    before = list(logging.getLogger("lithops").handlers)
    setup_lithops_logger(None)
    setup_lithops_logger("none")
    assert logging.getLogger("lithops").handlers == before
