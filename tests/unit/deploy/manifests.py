"""Rendered manifests, and what a pod of them would see: its config file and its environment."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Rendering", "Resource", "parse_documents", "pod_spec"]

Resource = dict[str, Any]

_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def parse_documents(texts: Iterable[str]) -> tuple[Resource, ...]:
    """Every non-empty YAML document in ``texts``."""
    return tuple(doc for text in texts for doc in yaml.safe_load_all(text) if doc)


def pod_spec(workload: Resource) -> Resource:
    """The pod template's spec of a Deployment or StatefulSet."""
    spec: Resource = workload["spec"]["template"]["spec"]
    return spec


@dataclass(frozen=True)
class Rendering:
    """The documents one way of deploying produces (a Kustomize build, a Helm release)."""

    name: str
    documents: tuple[Resource, ...]

    def all(self, kind: str) -> list[Resource]:
        """Every document of ``kind``."""
        return [doc for doc in self.documents if doc["kind"] == kind]

    def named(self, kind: str, name: str) -> Resource:
        """The one document of ``kind`` called ``name``."""
        found = [doc for doc in self.all(kind) if doc["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.name}: {len(found)} {kind} called {name!r}"
        return found[0]

    def workload_with_container(self, container_name: str) -> Resource:
        """The one Deployment or StatefulSet running a container called ``container_name``."""
        found = [
            doc
            for doc in self.all("Deployment") + self.all("StatefulSet")
            if any(c["name"] == container_name for c in pod_spec(doc)["containers"])
        ]
        assert len(found) == 1, f"{self.name}: {len(found)} workloads run {container_name!r}"
        return found[0]

    def container(self, container_name: str) -> Resource:
        """The container called ``container_name`` (in the one workload running it)."""
        workload = self.workload_with_container(container_name)
        containers = pod_spec(workload)["containers"]
        found: Resource = next(c for c in containers if c["name"] == container_name)
        return found

    def services_selecting(self, workload: Resource) -> list[Resource]:
        """The Services whose selector matches the pods of ``workload``."""
        labels = workload["spec"]["template"]["metadata"]["labels"]
        return [
            service
            for service in self.all("Service")
            if service["spec"]["selector"].items() <= labels.items()
        ]

    def mounted_file(self, workload: Resource, container: Resource, path: str) -> str:
        """The text a container reads at ``path``, mounted from a ConfigMap key with subPath."""
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == path)
        volume = next(v for v in pod_spec(workload)["volumes"] if v["name"] == mount["name"])
        config_map = self.named("ConfigMap", volume["configMap"]["name"])
        text: str = config_map["data"][mount["subPath"]]
        return text

    def secret_data(self, name: str) -> dict[str, str]:
        """A Secret's decoded data."""
        secret = self.named("Secret", name)
        return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}

    def environment(self, container: Resource) -> dict[str, str]:
        """The container's environment as the kubelet builds it: ``envFrom``, then ``env``.

        ``$(NAME)`` in a value is replaced by a variable defined before it; an undefined one stays
        as written, as Kubernetes leaves it.
        """
        environ: dict[str, str] = {}
        for source in container.get("envFrom", []):
            environ.update(self.secret_data(source["secretRef"]["name"]))
        for variable in container.get("env", []):
            if "value" in variable:
                value = _REFERENCE.sub(
                    lambda m: environ.get(m.group(1), m.group(0)), variable["value"]
                )
            else:
                ref = variable["valueFrom"]["secretKeyRef"]
                value = self.secret_data(ref["name"])[ref["key"]]
            environ[variable["name"]] = value
        return environ
