"""The deployment files agree with Kubernetes and with the server they deploy.

Every way of deploying is rendered offline — the Kustomize base and overlay by ``kustomize.py``
(cross-checked against ``kubectl kustomize`` where one is installed), the Helm chart by Helm's own
engine (``charts.py``) with several values sets — and each rendering must: validate against the
Kubernetes JSON schemas of ``KUBERNETES_VERSION`` (``kubernetes-validate``, strict: unknown fields
fail); start ``quotaflow serve`` on the port the container, the probes and the Service use; probe
the server's real health routes; provide every ``os.environ/NAME`` of its config in the pod's
environment; hand the config, with that environment, to ``load_settings`` without a warning;
give the gateway a writable volume where the server writes (``data_folder``, ``store_url``);
migrate, before the gateway starts, the database the gateway opens; leave the gateway time to
finish its calls (``--grace-seconds``) before SIGKILL; and point Prometheus at a route that
answers. The Dockerfile's command must parse to the same ``serve`` options.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from quotaflow.__main__ import _parser
from quotaflow.app import create_app, data_folder, store_url
from quotaflow.config import Settings, load_settings
from quotaflow.server.routes import exact_routes
from tests.unit.deploy import charts, kustomize
from tests.unit.deploy.dockerfile import exec_form, final_stage, instructions
from tests.unit.deploy.manifests import Rendering, Resource, parse_documents, pod_spec

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[3]
KUSTOMIZE_DIR = ROOT / "deploy" / "kubernetes"
CHART_DIR = ROOT / "deploy" / "helm" / "quotaflow"
KUBERNETES_VERSION = "1.30"

GATEWAY = "quotaflow"  # the gateway's container name, in every rendering
MIGRATIONS = "db-upgrade"  # its init container
PORT = 4000
SHUTDOWN_MARGIN_S = 5  # at least, between the end of --grace-seconds and SIGKILL
_ENV_PREFIX = "os.environ/"

EXAMPLE_SECRETS = kustomize.env_file(KUSTOMIZE_DIR / "base" / "secrets.env.example")
EXISTING_SECRET = "quotaflow-managed"  # made by the user (External Secrets, …) before install

CHART_CASES: dict[str, dict[str, Any]] = {
    "helm-default": {"secrets": EXAMPLE_SECRETS},
    "helm-postgres": {
        "secrets": EXAMPLE_SECRETS,
        "postgres": {"enabled": True, "password": "0123456789abcdef"},
    },
    "helm-external-database": {
        "secrets": EXAMPLE_SECRETS,
        "externalDatabaseUrl": "postgresql://quotaflow:secret@db.example.com:5432/quotaflow",
    },
    "helm-existing-secret": {
        "existingSecret": EXISTING_SECRET,
        "replicaCount": 5,
        "workers": 4,
        "gracefulShutdownSeconds": 120,
        "dbUpgradeInitContainer": False,
        "metrics": {"scrapeAnnotations": False},
        "podAnnotations": {"example.com/team": "platform"},
    },
    "helm-without-redis": {
        "secrets": {k: v for k, v in EXAMPLE_SECRETS.items() if k != "REDIS_PASSWORD"},
        "redis": {"enabled": False},
    },
}
FAILING_CHART_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "helm-no-values": ({}, "config names os.environ/MASTER_KEY: set secrets.MASTER_KEY"),
    "helm-empty-secret": (
        {"secrets": EXAMPLE_SECRETS | {"AZURE_API_KEY_FRANCE": ""}},
        "secrets.AZURE_API_KEY_FRANCE is empty",
    ),
    "helm-two-databases": (
        {
            "secrets": EXAMPLE_SECRETS,
            "postgres": {"enabled": True, "password": "p"},
            "externalDatabaseUrl": "postgresql://u:p@h/db",
        },
        "not both",
    ),
    "helm-postgres-without-password": (
        {"secrets": EXAMPLE_SECRETS, "postgres": {"enabled": True}},
        "postgres.password",
    ),
    "helm-short-grace-period": (
        {"secrets": EXAMPLE_SECRETS, "terminationGracePeriodSeconds": 30},
        "terminationGracePeriodSeconds is 30: it must be at least",
    ),
    "helm-data-dir-elsewhere": (
        {"secrets": EXAMPLE_SECRETS, "config": {"general_settings": {"data_dir": "/data"}}},
        "config.general_settings.data_dir: leave it unset",
    ),
}
KUSTOMIZATIONS = {"kustomize-base": "base", "kustomize-postgres": "overlays/postgres"}
RENDERINGS = [*KUSTOMIZATIONS, *CHART_CASES]
WITH_DATABASE = {"kustomize-postgres", "helm-postgres", "helm-external-database"}
WITHOUT_EXTRAS = "helm-existing-secret"  # no init container, no Prometheus annotations


# Rendering ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kustomize_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/kubernetes with each ``*.env`` made from its ``*.env.example``."""
    tree = tmp_path_factory.mktemp("kubernetes") / "kubernetes"
    shutil.copytree(KUSTOMIZE_DIR, tree)
    for example in tree.rglob("*.env.example"):
        shutil.copyfile(example, example.with_suffix(""))
    return tree


@pytest.fixture(scope="session")
def chart_results() -> dict[str, charts.ChartResult]:
    """The chart rendered with every values set (successful and failing), in one child process."""
    cases = dict(CHART_CASES) | {name: case[0] for name, case in FAILING_CHART_CASES.items()}
    with _helm_or_skip():
        return charts.render_cases(CHART_DIR, cases)


@pytest.fixture(scope="session")
def kustomize_renderings(kustomize_tree: Path) -> dict[str, Rendering]:
    """The Kustomize base and overlay, built."""
    return {
        name: Rendering(name, tuple(kustomize.build(kustomize_tree / sub)))
        for name, sub in KUSTOMIZATIONS.items()
    }


@pytest.fixture(scope="session")
def chart_renderings(chart_results: dict[str, charts.ChartResult]) -> dict[str, Rendering]:
    """The chart's releases that rendered, by case."""
    found = {}
    for name in CHART_CASES:
        result = chart_results[name]
        assert result.error is None, f"{name}: {result.error}"
        texts = [text for path, text in result.manifests.items() if path.endswith(".yaml")]
        documents = parse_documents(texts)
        if name == "helm-existing-secret":  # the Secret the user created beforehand
            documents += (_secret(EXISTING_SECRET, EXAMPLE_SECRETS),)
        found[name] = Rendering(name, documents)
    return found


@pytest.fixture(params=RENDERINGS)
def rendering(request: pytest.FixtureRequest) -> Rendering:
    """Each rendering in turn."""
    source = "kustomize_renderings" if request.param in KUSTOMIZATIONS else "chart_renderings"
    found: Rendering = request.getfixturevalue(source)[request.param]
    return found


@contextlib.contextmanager
def _helm_or_skip() -> Iterator[None]:
    """Skip when Helm cannot run on this platform, except in CI, where that is a failure."""
    try:
        yield
    except charts.HelmUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Helm cannot run here: {exc}")


def _environment_references(config_text: str) -> set[str]:
    """The NAMEs of every ``os.environ/NAME`` value in a config file."""
    found: set[str] = set()
    pending: list[object] = [yaml.safe_load(config_text)]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and value.startswith(_ENV_PREFIX):
            found.add(value.removeprefix(_ENV_PREFIX))
    return found


def _secret(name: str, data: dict[str, str]) -> Resource:
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}


def _serve_options(container: Resource) -> argparse.Namespace:
    """The container's command line, parsed by the ``quotaflow`` command's own parser."""
    command = container.get("command", ["quotaflow"])
    assert command == ["quotaflow"], "the image's entrypoint is the quotaflow command"
    options = _parser().parse_args(container["args"])
    assert options.command == "serve"
    return options


def _config(rendering: Rendering, container: Resource | None = None) -> str:
    """The config file the gateway (or ``container``, which names the same path) reads."""
    workload = rendering.workload_with_container(GATEWAY)
    path = str(_serve_options(rendering.container(GATEWAY)).config)
    return rendering.mounted_file(workload, container or rendering.container(GATEWAY), path)


def _settings(rendering: Rendering, container: Resource | None = None) -> Settings:
    """The settings the gateway (or ``container``) loads: its config file and its environment."""
    container = container or rendering.container(GATEWAY)
    data = yaml.safe_load(_config(rendering, container))
    loaded = load_settings(data=data, environ=rendering.environment(container))
    assert loaded.warnings == ()
    # As if read from the file: the server's default data folder is the config file's.
    path = Path(str(_serve_options(rendering.container(GATEWAY)).config))
    return loaded.settings.model_copy(update={"source": path})


def _volume_holding(workload: Resource, container: Resource, path: PurePosixPath) -> Resource:
    """The volume, and its mount, under which ``container`` finds ``path``: the deepest mount."""
    mounts = [m for m in container["volumeMounts"] if path.is_relative_to(m["mountPath"])]
    assert mounts, f"{path} is on the root filesystem"
    mount = max(mounts, key=lambda m: len(PurePosixPath(m["mountPath"]).parts))
    volume: Resource = next(v for v in pod_spec(workload)["volumes"] if v["name"] == mount["name"])
    return volume | {"mount": mount}


async def _get_status(settings: Settings, path: str) -> int:
    """The status of ``GET path`` on the gateway built from ``settings``, in process."""
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://pod:{PORT}") as client:
        return (await client.get(path)).status_code


# Kubernetes schemas ------------------------------------------------------------------------------


def test_every_document_validates_against_the_kubernetes_schema(rendering: Rendering):
    assert rendering.documents
    for document in rendering.documents:
        where = f"{rendering.name}: {document['kind']} {document['metadata']['name']}"
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(f"{where}: {path}: {error.message}")


def test_every_resource_of_a_namespaced_kustomization_is_in_its_namespace(
    kustomize_renderings: dict[str, Rendering],
):
    for name, rendering in kustomize_renderings.items():
        namespaces = {doc["metadata"].get("namespace") for doc in rendering.documents}
        assert namespaces == {"inv-demo"}, name


# The gateway's command line, port and probes -----------------------------------------------------


def test_gateway_listens_on_the_port_that_the_container_and_service_expose(rendering: Rendering):
    container = rendering.container(GATEWAY)
    options = _serve_options(container)

    assert options.host == "0.0.0.0"  # noqa: S104 - reachable from the kubelet and the Service
    assert options.port == PORT
    assert container["ports"] == [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]
    (service,) = rendering.services_selecting(rendering.workload_with_container(GATEWAY))
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in ("http", PORT)


def test_probes_are_the_servers_health_routes(rendering: Rendering):
    container = rendering.container(GATEWAY)
    routes = exact_routes()
    probes = {kind: container[kind] for kind in ("startupProbe", "livenessProbe")}

    assert container["readinessProbe"]["httpGet"] == {"path": "/health/readiness", "port": "http"}
    assert ("GET", "/health/readiness") in routes
    for kind, probe in probes.items():
        assert probe["httpGet"]["port"] == "http", kind
        assert ("GET", probe["httpGet"]["path"]) in routes, kind
        # Liveness must not fail while the gateway drains or its upstreams are down.
        assert probe["httpGet"]["path"] in ("/health/liveliness", "/health/liveness"), kind


def test_shutdown_leaves_time_for_endpoints_removal_and_requests_in_flight(rendering: Rendering):
    container = rendering.container(GATEWAY)
    pod = pod_spec(rendering.workload_with_container(GATEWAY))
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    options = _serve_options(container)
    before_sigkill = int(command[1]) + options.drain_seconds + options.grace_seconds

    assert command[0] == "sleep"
    assert "--grace-seconds" in container["args"]  # said next to the grace period, not implied
    assert pod["terminationGracePeriodSeconds"] >= before_sigkill + SHUTDOWN_MARGIN_S


def test_chart_derives_the_grace_period_from_the_shutdown_values(
    chart_renderings: dict[str, Rendering],
):
    default = chart_renderings["helm-default"]
    custom = chart_renderings["helm-existing-secret"]  # gracefulShutdownSeconds: 120

    assert _serve_options(default.container(GATEWAY)).grace_seconds == 30
    assert pod_spec(default.workload_with_container(GATEWAY))["terminationGracePeriodSeconds"] == 45
    assert _serve_options(custom.container(GATEWAY)).grace_seconds == 120
    assert pod_spec(custom.workload_with_container(GATEWAY))["terminationGracePeriodSeconds"] == 135


def test_gateway_logs_json_lines(rendering: Rendering):
    container = rendering.container(GATEWAY)

    # auto: JSON whenever stderr is not a terminal, which it is not without `tty`.
    assert _serve_options(container).log_format in ("auto", "json")
    assert not container.get("tty", False)


def test_gateway_runs_several_replicas_with_resources_and_rolls_without_losing_capacity(
    rendering: Rendering,
):
    deployment = rendering.workload_with_container(GATEWAY)
    resources = rendering.container(GATEWAY)["resources"]

    assert deployment["spec"]["replicas"] >= 3
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]
    (budget,) = rendering.all("PodDisruptionBudget")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_every_container_runs_as_non_root_on_a_read_only_root_filesystem(rendering: Rendering):
    for workload in rendering.all("Deployment") + rendering.all("StatefulSet"):
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, container["name"]
            assert context["allowPrivilegeEscalation"] is False, container["name"]
            assert context["capabilities"]["drop"] == ["ALL"], container["name"]


# Config and environment --------------------------------------------------------------------------


def test_every_environment_reference_of_the_config_is_in_the_gateways_environment(
    rendering: Rendering,
):
    environ = rendering.environment(rendering.container(GATEWAY))
    referenced = _environment_references(_config(rendering))

    assert referenced
    assert referenced <= environ.keys()
    assert not any("$(" in value for value in environ.values()), "an undefined $(NAME)"


def test_config_loads_with_the_pods_environment(rendering: Rendering):
    settings = _settings(rendering)

    assert {entry.model_info.id for entry in settings.model_list} == {"sweden", "france"}
    assert settings.general_settings.master_key is not None
    assert (settings.general_settings.database_url is not None) == (rendering.name in WITH_DATABASE)


def test_gateway_writes_its_data_to_a_writable_volume_of_the_pod(rendering: Rendering):
    workload = rendering.workload_with_container(GATEWAY)
    container = rendering.container(GATEWAY)
    settings = _settings(rendering)
    data_dir = settings.general_settings.data_dir

    # The default, the config file's folder, is the ConfigMap's read-only mount.
    assert data_dir is not None
    assert data_folder(settings) == data_dir.resolve()  # where the spool and SQLite go
    folder = PurePosixPath(str(data_dir))
    writes = [folder, folder / "spend-spool"]
    url = store_url(settings)
    assert url is not None
    if rendering.name not in WITH_DATABASE:
        assert url == f"sqlite:///{data_folder(settings)}/quotaflow.db"
        writes.append(folder / "quotaflow.db")
    for path in writes:
        volume = _volume_holding(workload, container, path)
        assert "emptyDir" in volume, f"{path}: {volume}"  # writable by any user
        assert not volume["mount"].get("readOnly", False), path


def test_migrations_run_first_on_the_database_the_gateway_opens(rendering: Rendering):
    workload = rendering.workload_with_container(GATEWAY)
    gateway = rendering.container(GATEWAY)
    init_containers = pod_spec(workload).get("initContainers", [])
    if rendering.name == WITHOUT_EXTRAS:  # dbUpgradeInitContainer: false
        assert init_containers == []
        return
    (init,) = init_containers
    options = _parser().parse_args(init["args"])

    assert init["name"] == MIGRATIONS
    assert init.get("command", ["quotaflow"]) == ["quotaflow"]
    assert (options.command, options.db_command) == ("db", "upgrade")
    assert options.database_url is None  # the config's database, by the gateway's own rule
    assert options.config == _serve_options(gateway).config
    assert init["image"] == gateway["image"]
    assert init["volumeMounts"] == gateway["volumeMounts"]
    assert rendering.environment(init) == rendering.environment(gateway)
    assert store_url(_settings(rendering, init)) == store_url(_settings(rendering))


def test_pods_point_prometheus_at_the_metrics_route(rendering: Rendering):
    workload = rendering.workload_with_container(GATEWAY)
    annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
    if rendering.name == WITHOUT_EXTRAS:  # metrics.scrapeAnnotations: false
        assert not [name for name in annotations if name.startswith("prometheus.io/")]
        assert annotations["example.com/team"] == "platform"
        return
    settings = _settings(rendering)

    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(
        _serve_options(rendering.container(GATEWAY)).port
    )
    assert not settings.general_settings.require_auth_for_metrics_endpoint  # no key to scrape with
    assert asyncio.run(_get_status(settings, annotations["prometheus.io/path"])) == 200


def test_config_points_at_the_redis_service_with_the_password_redis_uses(rendering: Rendering):
    router = _settings(rendering).router_settings
    if rendering.name == "helm-without-redis":
        assert router.redis_host is None
        assert not rendering.all("Deployment")[1:], "only the gateway runs"
        return
    redis = rendering.workload_with_container("redis")
    (service,) = rendering.services_selecting(redis)
    (port,) = service["spec"]["ports"]
    (container_port,) = rendering.container("redis")["ports"]
    args = rendering.container("redis")["args"]
    redis_password = rendering.environment(rendering.container("redis"))["REDIS_PASSWORD"]

    assert router.redis_host == service["metadata"]["name"]
    assert router.redis_port == port["port"]
    assert port["targetPort"] == container_port["name"]
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert router.redis_password is not None
    assert router.redis_password.get_secret_value() == redis_password


def test_database_url_points_at_the_postgres_service_as_its_user(rendering: Rendering):
    if rendering.name not in WITH_DATABASE:
        assert "DATABASE_URL" not in rendering.environment(rendering.container(GATEWAY))
        return
    database_url = _settings(rendering).general_settings.database_url
    assert database_url is not None
    url = urlsplit(database_url.get_secret_value())
    assert url.scheme == "postgresql"
    if rendering.name == "helm-external-database":
        assert url.hostname == "db.example.com"
        return
    postgres = rendering.workload_with_container("postgres")
    (service,) = rendering.services_selecting(postgres)
    (port,) = service["spec"]["ports"]
    postgres_env = rendering.environment(rendering.container("postgres"))

    assert url.hostname == service["metadata"]["name"] == postgres["spec"]["serviceName"]
    assert url.port == port["port"]
    assert url.username == postgres_env["POSTGRES_USER"]
    assert url.password == postgres_env["POSTGRES_PASSWORD"]
    assert url.path == "/" + postgres_env["POSTGRES_DB"]


def test_secrets_example_names_exactly_what_the_base_config_references():
    config = (KUSTOMIZE_DIR / "base" / "config.yaml").read_text(encoding="utf-8")

    assert set(EXAMPLE_SECRETS) == _environment_references(config)


def test_every_secrets_file_is_ignored_by_git():
    for example in KUSTOMIZE_DIR.rglob("*.env.example"):
        ignored = (example.parent / ".gitignore").read_text(encoding="utf-8").splitlines()
        assert example.with_suffix("").name in ignored, example


def test_overlay_keeps_the_base_config_and_adds_only_the_database_to_the_environment(
    kustomize_renderings: dict[str, Rendering],
):
    base = kustomize_renderings["kustomize-base"]
    overlay = kustomize_renderings["kustomize-postgres"]
    base_env = base.environment(base.container(GATEWAY))
    overlay_env = overlay.environment(overlay.container(GATEWAY))

    assert _config(overlay) == _config(base)  # the gateway reads $DATABASE_URL
    assert yaml.safe_load(_config(base))["general_settings"].get("database_url") is None
    assert base_env.items() <= overlay_env.items()
    assert overlay_env.keys() - base_env.keys() == {"POSTGRES_PASSWORD", "DATABASE_URL"}


def test_chart_default_config_is_the_kustomize_config(
    kustomize_renderings: dict[str, Rendering], chart_renderings: dict[str, Rendering]
):
    chart = yaml.safe_load(_config(chart_renderings["helm-default"]))
    base = yaml.safe_load(_config(kustomize_renderings["kustomize-base"]))

    assert chart["router_settings"].pop("redis_host") == "quotaflow-redis"
    assert base["router_settings"].pop("redis_host") == "redis"
    assert chart == base


def test_chart_values_set_replicas_and_workers(chart_renderings: dict[str, Rendering]):
    rendering = chart_renderings["helm-existing-secret"]
    options = _serve_options(rendering.container(GATEWAY))

    assert rendering.workload_with_container(GATEWAY)["spec"]["replicas"] == 5
    assert options.workers == 4
    assert not [s for s in rendering.all("Secret") if s["metadata"]["name"] != EXISTING_SECRET]


def test_chart_notes_warn_when_replicas_have_no_shared_database(
    chart_results: dict[str, charts.ChartResult],
):
    def notes(case: str) -> str:
        return chart_results[case].manifests["quotaflow/templates/NOTES.txt"]

    assert "No database is configured" in notes("helm-default")
    assert "(unless quotaflow-managed holds DATABASE_URL)" in notes("helm-existing-secret")
    assert "No database" not in notes("helm-postgres")
    assert "No database" not in notes("helm-external-database")


@pytest.mark.parametrize("case", FAILING_CHART_CASES)
def test_chart_refuses_values_that_cannot_work(
    case: str, chart_results: dict[str, charts.ChartResult]
):
    error = chart_results[case].error

    assert error is not None
    assert FAILING_CHART_CASES[case][1] in error


def test_chart_lints_clean():
    with _helm_or_skip():
        report = charts.lint(CHART_DIR, {"secrets": EXAMPLE_SECRETS}, f"v{KUBERNETES_VERSION}.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors

    assert report["errors"] == []
    assert problems == []


# Kustomize: this renderer against the real one ---------------------------------------------------


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_python_renderer_matches_kubectl_kustomize(
    name: str, kustomize_tree: Path, kustomize_renderings: dict[str, Rendering]
):
    kubectl = shutil.which("kubectl")
    binary = shutil.which("kustomize")
    if binary is not None:
        command = [binary, "build", str(kustomize_tree / KUSTOMIZATIONS[name])]
    elif kubectl is not None:
        command = [kubectl, "kustomize", str(kustomize_tree / KUSTOMIZATIONS[name])]
    else:
        pytest.skip("neither kustomize nor kubectl is installed")
    built = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)  # noqa: S603

    def key(doc: Resource) -> tuple[str, str]:
        return doc["kind"], doc["metadata"]["name"]

    expected = sorted(parse_documents([built.stdout]), key=key)
    assert sorted(kustomize_renderings[name].documents, key=key) == expected


# The image ---------------------------------------------------------------------------------------


def test_image_is_multi_stage_and_runs_as_a_numeric_non_root_user():
    steps = instructions((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    final = final_stage(steps)
    users = [step.arguments for step in final if step.keyword == "USER"]

    assert sum(step.keyword == "FROM" for step in steps) >= 2
    assert not any(step.keyword == "COPY" and "--from" not in step.arguments for step in final)
    assert users
    uid = users[-1].partition(":")[0]
    assert uid.isdigit()
    assert int(uid) > 0


def test_image_gives_its_user_the_data_dir_of_the_manifests():
    final = final_stage(instructions((ROOT / "Dockerfile").read_text(encoding="utf-8")))
    uid = [step.arguments for step in final if step.keyword == "USER"][-1].partition(":")[0]
    config = yaml.safe_load((KUSTOMIZE_DIR / "base" / "config.yaml").read_text(encoding="utf-8"))
    data_dir = config["general_settings"]["data_dir"]
    runs = [step.arguments for step in final if step.keyword == "RUN"]
    (made,) = [run for run in runs if data_dir in run.split()]

    # For `docker run` with a volume there (a new named volume takes the directory's owner).
    assert f"--owner {uid} " in made


def _image_command() -> tuple[list[str], list[str], list[str]]:
    """The final stage's ENTRYPOINT, CMD and EXPOSE."""
    final = final_stage(instructions((ROOT / "Dockerfile").read_text(encoding="utf-8")))
    by_keyword = {step.keyword: step.arguments for step in final}
    return (
        exec_form(by_keyword["ENTRYPOINT"]),
        exec_form(by_keyword["CMD"]),
        by_keyword["EXPOSE"].split(),
    )


def test_image_runs_quotaflow_serve_on_the_exposed_port(
    kustomize_renderings: dict[str, Rendering],
):
    entrypoint, command, exposed = _image_command()
    options = _parser().parse_args(command)

    assert entrypoint == ["quotaflow"]
    assert options.command == "serve"
    assert "--port" in command  # said, not left to the default
    assert exposed == [str(options.port)] == [str(PORT)]
    base_args = kustomize_renderings["kustomize-base"].container(GATEWAY)["args"]
    assert base_args[: len(command)] == command  # the CMD, then shutdown's --grace-seconds


def test_container_serves_what_the_image_serves(rendering: Rendering):
    image = _parser().parse_args(_image_command()[1])
    options = _serve_options(rendering.container(GATEWAY))

    assert (options.config, options.host, options.port) == (image.config, image.host, image.port)


def test_image_healthcheck_probes_a_health_route():
    final = final_stage(instructions((ROOT / "Dockerfile").read_text(encoding="utf-8")))
    (healthcheck,) = [step.arguments for step in final if step.keyword == "HEALTHCHECK"]
    urls = re.findall(r"http://127\.0\.0\.1:(\d+)(/[\w/]+)", healthcheck)

    assert urls == [(str(PORT), "/health/liveliness")]
    assert ("GET", "/health/liveliness") in exact_routes()


def test_build_context_holds_only_what_the_image_needs():
    patterns = [
        line
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]

    assert patterns[0] == "*"  # everything else is excluded, secrets.env included
    assert {"!pyproject.toml", "!README.md", "!src/"} <= set(patterns)
