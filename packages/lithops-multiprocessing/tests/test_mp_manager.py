"""``Manager()``: shared dict, list, Namespace, Value, Queue and Lock, used by processes."""

from __future__ import annotations

import queue
from typing import Any

import lithops.multiprocessing as mp
import pytest

pytestmark = pytest.mark.usefixtures("mp_localhost")


def _update(d: Any, items: Any, ns: Any, value: Any, q: Any, lock: Any) -> None:
    with lock:
        d[(1, "key")] = {"nested": [1, 2]}
        d.setdefault("counter", 0)
        d["counter"] += 5
        items.append("from child")
        items.insert(0, "first")
        ns.answer = 42
        value.value = "changed"
        q.put("hello")


def test_manager_objects_are_shared_with_processes(redis_server: Any) -> None:
    with mp.Manager() as manager:
        d = manager.dict(zeta=1)
        items = manager.list([3, 1, 2])
        ns = manager.Namespace(start=True)
        value = manager.Value("u", "initial")
        q = manager.Queue()
        lock = manager.Lock()
        process = mp.Process(target=_update, args=(d, items, ns, value, q, lock))
        process.start()
        process.join()
        assert process.exitcode == 0
        assert d.copy() == {"zeta": 1, (1, "key"): {"nested": [1, 2]}, "counter": 5}
        assert list(d) == ["zeta", (1, "key"), "counter"]  # insertion order
        assert items[:] == ["first", 3, 1, 2, "from child"]
        assert (ns.start, ns.answer) == (True, 42)
        assert value.value == "changed" and q.get(timeout=10) == "hello"
        prefix = manager.address.rsplit("/", 1)[1]
        assert redis_server.client().keys(prefix + ":*")
    assert not redis_server.client().keys(prefix + ":*")  # shutdown deleted them


def test_dict_proxy_behaves_as_a_dict(mp_config: dict[str, Any]) -> None:
    with mp.Manager() as manager:
        d = manager.dict({1: "one"}, two=2)
        d.update([(0.25, None)], three=3)
        assert len(d) == 4 and 1 in d and "missing" not in d
        assert d[1.0] == "one"  # equal keys are the same key
        assert d.get("missing", "default") == "default"
        with pytest.raises(KeyError):
            d["missing"]
        assert d.pop("two") == 2 and d.pop("two", None) is None
        assert d.popitem() == ("three", 3)
        del d[0.25]
        with pytest.raises(KeyError):
            del d[0.25]
        assert d.items() == [(1, "one")] and d.keys() == [1] and d.values() == ["one"]
        assert str(d) == "{1: 'one'}"
        with pytest.raises(TypeError, match="unhashable"):
            d[[1]] = 1
        d.clear()
        assert len(d) == 0


def test_list_proxy_behaves_as_a_list(mp_config: dict[str, Any]) -> None:
    with mp.Manager() as manager:
        items = manager.list(range(5))
        items.extend([9, 8])
        items += [7]
        items[0] = "zero"
        del items[1]
        assert items[:] == ["zero", 2, 3, 4, 9, 8, 7] and len(items) == 7 and items[-1] == 7
        assert items.pop() == 7 and items.pop(0) == "zero" and items.pop(1) == 3
        items.remove(9)
        items.sort()
        assert items[:] == [2, 4, 8]
        items.reverse()
        assert str(items) == "[8, 4, 2]" and items.index(4) == 1 and items.count(2) == 1 and 8 in items
        items[1:] = ["a"]
        assert items[:] == [8, "a"]
        with pytest.raises(IndexError):
            items[10]
        with pytest.raises(IndexError):
            items[10] = 1
        with pytest.raises(ValueError):
            items.remove("absent")


def test_namespace_and_lifecycle_errors(mp_config: dict[str, Any]) -> None:
    manager = mp.Manager()
    ns = manager.Namespace()
    with pytest.raises(AttributeError):
        _ = ns.missing
    ns.x = 1
    del ns.x
    with pytest.raises(AttributeError):
        _ = ns.x
    q = manager.JoinableQueue()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    with pytest.raises(NotImplementedError, match="custom types"):
        mp.SyncManager.register("Thing", object)
    manager.shutdown()
    with pytest.raises(mp.ProcessError):
        manager.dict()
