"""How arti graphs and snapshots are stored: pickled documents whose classes travel by
reference (`module:qualname`, importable by any reader) or by value (cloudpickle, for classes no
other process could import), and the code references a reader needs."""

from __future__ import annotations

import importlib
import io
import pickle
import sys
import threading
import typing
import uuid
import weakref
from typing import Any, Dict, List, Optional, Set, Tuple

import cloudpickle  # type: ignore[import-not-found,unused-ignore]
from arti import (  # type: ignore[import-not-found,unused-ignore]
    Backend,
)
from arti.partitions import (  # type: ignore[import-not-found,unused-ignore]
    Int8Key,
    Int16Key,
    Int32Key,
    Int64Key,
)
from pydantic import BaseModel, Field, PrivateAttr  # type: ignore[import-not-found,unused-ignore]

GRAPH_FORMAT = "application/x-arti-graph+pickle"
SNAPSHOT_FORMAT = "application/x-arti-snapshot+pickle"
_BACKEND_REF = "artimeta:backend"
_BASE_FIELDS = frozenset(("keys", "input_fingerprint", "content_fingerprint"))
_INT_KEYS: Dict[type, str] = {Int8Key: "int8_key", Int16Key: "int16_key", Int32Key: "int32_key", Int64Key: "int64_key"}
_KEY_CLASSES: Dict[str, type] = {v: k for k, v in _INT_KEYS.items()}


def code_ref(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve_ref(ref: str) -> Any:
    module, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def by_reference(cls: type) -> bool:
    """Whether another process can import `cls` by its `module:qualname` (pickle's test, and
    cloudpickle's: `__main__` and objects a module does not expose under their name are not)."""
    module = sys.modules.get(cls.__module__)
    if module is None or cls.__module__ == "__main__":
        return False
    obj: Any = module
    for part in cls.__qualname__.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return obj is cls


# Documents

# What pydantic's metaclass and arti's __init_subclass__ hooks derive while creating a class:
# a class stored by value is created again from what its body said, and these are derived anew.
_DERIVED = frozenset(
    (
        "__config__",
        "__fields__",
        "__exclude_fields__",
        "__include_fields__",
        "__validators__",
        "__pre_root_validators__",
        "__post_root_validators__",
        "__schema_cache__",
        "__json_encoder__",
        "__custom_root_type__",
        "__private_attributes__",
        "__slots__",
        "__hash__",
        "__class_vars__",
        "__signature__",
        "__dict__",
        "__weakref__",
        "__abstractmethods__",
        "__qualname__",
        "__parameters__",
        "__orig_bases__",
        "_abc_impl",
        "_input_artifact_classes_",
        "_build_sig_",
        "_build_inputs_",
        "_outputs_",
        "_map_sig_",
        "_map_inputs_",
        "storage_partition_type",
    )
)

_class_ids: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()
_rebuilt: Dict[str, type] = {}
_rebuilt_lock = threading.Lock()
# Classes this process created from a document (they are not importable here either).
_by_value: weakref.WeakSet[type] = weakref.WeakSet()


def stored_by_value(cls: type) -> bool:
    """Whether documents carry `cls` itself rather than a reference to import."""
    return cls in _by_value or not by_reference(cls)


def _generated_map(value: Any) -> bool:
    func = getattr(value, "__func__", None)
    return getattr(func, "__qualname__", "").endswith("_validate_map_sig.<locals>.map")


def _class_body(cls: Any) -> Dict[str, Any]:
    """What the class statement (or arti's @producer) gave the metaclass, recovered from the class."""
    body = {k: v for k, v in vars(cls).items() if k not in _DERIVED and not (k == "map" and _generated_map(v))}
    own = vars(cls).get("__annotations__", {})
    if own:
        # Resolved here, where the names they refer to exist (a reader may lack their module).
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception:  # noqa: BLE001 - unresolvable hints stay as written
            hints = {}
        body["__annotations__"] = {name: hints.get(name, hint) for name, hint in own.items()}
    for name in own:
        field = cls.__fields__.get(name)
        if field is None or field.required:
            continue
        body[name] = Field(default_factory=field.default_factory) if field.default_factory else field.default
    inherited = {n for base in cls.__mro__[1:] for n in getattr(base, "__private_attributes__", {})}
    for name, attr in getattr(cls, "__private_attributes__", {}).items():
        if name not in inherited:
            body[name] = PrivateAttr(default=attr.default, default_factory=attr.default_factory)
    return body


def _class_id(cls: type) -> str:
    with _rebuilt_lock:
        cid = _class_ids.get(cls)
        if cid is None:
            cid = _class_ids[cls] = uuid.uuid4().hex
        return cid


def _carried(cls: Any) -> Tuple[type, ...]:
    """View classes a producer derived (its inputs' and outputs'), when they travel by value:
    created before the producer, they are registered again when it looks them up."""
    views = [*getattr(cls, "_build_inputs_", {}).values(), *getattr(cls, "_outputs_", ())]
    return tuple(dict.fromkeys(type(v) for v in views if stored_by_value(type(v))))


def rebuild_class(
    meta: Any,
    name: str,
    qualname: str,
    bases: Tuple[type, ...],
    body: Dict[str, Any],
    cid: str,
    carried: Tuple[type, ...] = (),
) -> Any:
    """A class stored by value, created again by its metaclass (so pydantic and arti derive what
    they derive); one class per stored class and process, however many documents carry it.
    `carried` is only unpickled first (see _carried)."""
    with _rebuilt_lock:
        cls = _rebuilt.get(cid)
        if cls is None:
            cls = meta(name, bases, {**body, "__qualname__": qualname})
            _rebuilt[cid] = cls
            _class_ids[cls] = cid
            _by_value.add(cls)
        return cls


# Stored documents name this function artimeta.adapters.arti.rebuild_class, where it was first
# defined; pickles keep naming it so, and that module exports it, so documents written before and
# after the move read alike.
rebuild_class.__module__ = "artimeta.adapters.arti"


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc,unused-ignore]
    """cloudpickle (by value what no other process could import, by reference the rest) that
    leaves the backend out: it is connection state, and the reader attaches its own."""

    def persistent_id(self, obj: Any) -> Optional[str]:
        return _BACKEND_REF if isinstance(obj, Backend) else None

    def reducer_override(self, obj: Any) -> Any:
        # cloudpickle copies a class's derived state, which pydantic's compiled validators
        # defeat; models are created again from their body instead.
        if isinstance(obj, type) and issubclass(obj, BaseModel) and stored_by_value(obj):
            return rebuild_class, (
                type(obj),
                obj.__name__,
                obj.__qualname__,
                obj.__bases__,
                _class_body(obj),
                _class_id(obj),
                _carried(obj),
            )
        return super().reducer_override(obj)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, backend: Any) -> None:
        super().__init__(io.BytesIO(data))
        self._backend = backend

    def persistent_load(self, pid: Any) -> Any:
        if pid == _BACKEND_REF:
            return self._backend
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


def dump_document(obj: Any) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def load_document(data: bytes, code_refs: List[str], backend: Any) -> Any:
    for ref in code_refs:
        try:
            resolve_ref(ref)
        except (ImportError, AttributeError) as exc:
            raise ImportError(f"cannot import {ref!r}, which this graph needs: {exc}") from exc
    return _Unpickler(data, backend).load()


def graph_code_refs(graph: Any) -> List[str]:
    """The classes a reader must import (those stored by value travel with the document)."""
    refs: Set[str] = set()
    for _, artifact in graph.artifacts.walk():
        classes = [type(artifact)]
        if artifact.producer_output is not None:
            classes.append(type(artifact.producer_output.producer))
        refs.update(code_ref(c) for c in classes if not stored_by_value(c))
    return sorted(refs)
