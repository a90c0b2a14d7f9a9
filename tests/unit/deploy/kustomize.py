"""A small offline Kustomize: the features ``deploy/kubernetes/`` uses, done as Kustomize does.

``kubectl kustomize`` / ``kustomize build`` is a Go binary that CI machines need not have, so the
tests render the manifests with this instead; when one of them is on ``PATH``, a test renders
both ways and requires the same documents (``test_manifests.py``).

Supported, and nothing else (anything else raises ``UnsupportedKustomization``):

- ``resources``: YAML files (several documents each) and directories holding a kustomization;
- ``namespace``: set on every namespaced resource built so far;
- ``configMapGenerator`` / ``secretGenerator``: ``files`` (``path`` or ``key=path``), ``envs``
  (``NAME=value`` lines; blank lines and ``#`` comments skipped, values taken verbatim),
  ``literals``, ``type`` (Secret), ``behavior`` (``create``, ``replace``, ``merge``),
  ``options.disableNameSuffixHash``; names get Kustomize's content hash suffix;
- ``patches`` with ``path``: strategic-merge patches of workloads, matched by kind and name;
  lists merge by the merge keys of ``_MERGE_KEYS`` and are replaced otherwise, ``null`` deletes a
  key; ``$patch`` directives and ``target`` selectors are not supported;
- name references: a workload's pod spec names ConfigMaps and Secrets (volumes, ``envFrom``,
  ``valueFrom``, ``imagePullSecrets``), renamed to the generated names. As in Kustomize, a
  resource is renamed only for objects generated in its own kustomization or one that includes it
  (a base's Deployment does not see a Secret that an overlay generates).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["UnsupportedKustomization", "build", "env_file"]

Resource = dict[str, Any]

_KEYS = frozenset(
    {
        "apiVersion",
        "kind",
        "namespace",
        "resources",
        "configMapGenerator",
        "secretGenerator",
        "patches",
    }
)
_GENERATOR_KEYS = frozenset({"name", "files", "envs", "literals", "type", "behavior", "options"})
_CLUSTER_SCOPED = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass"}
)
_WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
# Strategic-merge keys of the pod-template lists a patch may touch (from the Kubernetes API's
# patchMergeKey); any other list is replaced whole, as the API does for atomic lists.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}


class UnsupportedKustomization(ValueError):
    """The kustomization uses a feature this renderer does not implement."""


@dataclass
class _Item:
    """One resource, with what name references need to know about it."""

    body: Resource
    depth: int  # of the kustomization that brought it in: 0 is the one being built
    original_name: str
    hashed: bool = False  # generated, with a content-hash name suffix


@dataclass
class _Build:
    items: list[_Item] = field(default_factory=list)


def build(directory: Path) -> list[Resource]:
    """The resources ``kustomize build directory`` prints, in no particular order."""
    result = _build(directory.resolve(), depth=0)
    for item in result.items:
        if item.hashed:
            item.body["metadata"]["name"] = f"{item.original_name}-{_content_hash(item.body)}"
    _rename_references(result.items)
    return [item.body for item in result.items]


def _build(directory: Path, depth: int) -> _Build:
    spec = _load_one(directory / "kustomization.yaml")
    unknown = set(spec) - _KEYS
    if unknown:
        raise UnsupportedKustomization(f"{directory}: {sorted(unknown)}")
    result = _Build()
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_dir():
            result.items.extend(_build(path, depth + 1).items)
        else:
            result.items.extend(
                _Item(doc, depth, doc["metadata"]["name"]) for doc in _load_all(path)
            )
    for generator in spec.get("configMapGenerator", []):
        _generate(result, _config_map(directory, generator), generator, depth)
    for generator in spec.get("secretGenerator", []):
        _generate(result, _secret(directory, generator), generator, depth)
    for patch in spec.get("patches", []):
        _apply_patch(result, directory, patch)
    if "namespace" in spec:
        for item in result.items:
            if item.body["kind"] not in _CLUSTER_SCOPED:
                item.body["metadata"]["namespace"] = spec["namespace"]
    return result


def _load_one(path: Path) -> Resource:
    loaded: Resource = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def _load_all(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


# Generators -------------------------------------------------------------------------------------


def _generated_data(directory: Path, generator: Resource) -> dict[str, str]:
    unknown = set(generator) - _GENERATOR_KEYS
    if unknown:
        raise UnsupportedKustomization(f"generator {generator.get('name')}: {sorted(unknown)}")
    data: dict[str, str] = {}
    for entry in generator.get("files", []):
        key, _, source = entry.rpartition("=")
        path = directory / source
        data[key or path.name] = path.read_text(encoding="utf-8")
    for entry in generator.get("envs", []):
        data.update(env_file(directory / entry))
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    return data


def env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines as Kustomize reads them: blanks and ``#`` comments skipped."""
    pairs: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.lstrip()
        if not text or text.startswith("#"):
            continue
        key, equals, value = text.partition("=")
        if not equals:
            raise UnsupportedKustomization(f"{path}: {key!r} without '=' (taken from the shell)")
        pairs[key] = value
    return pairs


def _config_map(directory: Path, generator: Resource) -> Resource:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": generator["name"]},
        "data": _generated_data(directory, generator),
    }


def _secret(directory: Path, generator: Resource) -> Resource:
    data = _generated_data(directory, generator)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": generator["name"]},
        "type": generator.get("type", "Opaque"),
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def _generate(result: _Build, body: Resource, generator: Resource, depth: int) -> None:
    behavior = generator.get("behavior", "create")
    hashed = not generator.get("options", {}).get("disableNameSuffixHash", False)
    name = generator["name"]
    existing = [
        item
        for item in result.items
        if item.body["kind"] == body["kind"] and item.original_name == name
    ]
    if behavior == "create":
        if existing:
            raise UnsupportedKustomization(f"{body['kind']} {name} exists; give a behavior")
        result.items.append(_Item(body, depth, name, hashed))
        return
    if len(existing) != 1:
        raise UnsupportedKustomization(f"behavior {behavior}: no single {body['kind']} {name}")
    target = existing[0]
    if behavior == "replace":
        target.body["data"] = body["data"]
    elif behavior == "merge":
        target.body["data"].update(body["data"])
    else:
        raise UnsupportedKustomization(f"behavior {behavior!r}")
    target.hashed = hashed


def _content_hash(body: Resource) -> str:
    """Kustomize's name suffix: the first 10 hex digits of a SHA-256, vowels replaced.

    Kustomize hashes JSON of kind, data (and type, for a Secret) and a name that its lookup of
    ``metadata/name`` never finds: always the empty string (``api/hasher/hasher.go``).
    """
    encoded: dict[str, Any] = {"kind": body["kind"], "name": "", "data": body["data"]}
    if body["kind"] == "Secret":
        encoded["type"] = body["type"]
    # Go's encoding/json: sorted keys, no spaces, <, > and & escaped.
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


# Patches ----------------------------------------------------------------------------------------


def _apply_patch(result: _Build, directory: Path, patch: Resource) -> None:
    if set(patch) != {"path"}:
        raise UnsupportedKustomization(f"patch {patch}: only 'path' is supported")
    for document in _load_all(directory / patch["path"]):
        kind, name = document["kind"], document["metadata"]["name"]
        if kind not in _WORKLOADS:
            raise UnsupportedKustomization(f"patch of a {kind}: only workloads")
        targets = [
            item
            for item in result.items
            if item.body["kind"] == kind and item.original_name == name
        ]
        if len(targets) != 1:
            raise UnsupportedKustomization(f"patch: no single {kind} {name}")
        _merge(targets[0].body, document)


def _merge(target: Resource, patch: Resource) -> None:
    for key, value in patch.items():
        if isinstance(key, str) and key.startswith("$"):
            raise UnsupportedKustomization(f"patch directive {key}")
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, list) and key in _MERGE_KEYS and isinstance(target.get(key), list):
            _merge_list(target[key], value, _MERGE_KEYS[key])
        else:
            target[key] = copy.deepcopy(value)


def _merge_list(target: list[Resource], patch: list[Resource], merge_key: str) -> None:
    for element in patch:
        match = next((old for old in target if old.get(merge_key) == element[merge_key]), None)
        if match is None:
            target.append(copy.deepcopy(element))
        else:
            _merge(match, element)


# Name references --------------------------------------------------------------------------------


def _rename_references(items: list[_Item]) -> None:
    generated = [item for item in items if item.body["metadata"]["name"] != item.original_name]
    for item in items:
        for ref_kind, holder, key in _references(item.body):
            for target in generated:
                if (
                    target.body["kind"] == ref_kind
                    and target.original_name == holder[key]
                    and item.depth <= target.depth
                    and target.body["metadata"].get("namespace")
                    == item.body["metadata"].get("namespace")
                ):
                    holder[key] = target.body["metadata"]["name"]


# (field of a volume, kind it names, key of the name); then of an envFrom source, of a valueFrom.
_VOLUME_REFERENCES = (("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName"))
_ENV_FROM_REFERENCES = (("configMapRef", "ConfigMap"), ("secretRef", "Secret"))
_VALUE_FROM_REFERENCES = (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret"))


def _references(body: Resource) -> list[tuple[str, dict[str, Any], str]]:
    """(referenced kind, the mapping holding the name, its key) for each pod-spec reference."""
    if body["kind"] not in _WORKLOADS:
        return []
    pod = body["spec"]["template"]["spec"]
    found: list[tuple[str, dict[str, Any], str]] = [
        (kind, volume[field], key)
        for volume in pod.get("volumes", [])
        for field, kind, key in _VOLUME_REFERENCES
        if field in volume
    ]
    found.extend(("Secret", ref, "name") for ref in pod.get("imagePullSecrets", []))
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        found.extend(
            (kind, source[field], "name")
            for source in container.get("envFrom", [])
            for field, kind in _ENV_FROM_REFERENCES
            if field in source
        )
        found.extend(
            (kind, variable["valueFrom"][field], "name")
            for variable in container.get("env", [])
            for field, kind in _VALUE_FROM_REFERENCES
            if field in variable.get("valueFrom", {})
        )
    return found
