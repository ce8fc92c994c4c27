"""What a plan deploys as: the docker argv, the compose service and the Kubernetes
objects, as plain data built from a published plan.

Standard library only: the compiler renders these structures into files with its
templates, and `aim-pick` rebuilds them on a GPU host with the host's own settings
(port, cache folder, container name, pinned GPUs). One function per artifact, so the
two always agree on what the artifact contains.
"""

from __future__ import annotations

import re
import shlex
from collections import namedtuple

CACHE_ROOT = "/workspace/model-cache"  # the seed's cache root, also where containers mount it
DEFAULT_HOST_PORT = 8000
DOCKER_DEVICE_FLAGS = (
    "--device=/dev/kfd",
    "--device=/dev/dri",
    "--group-add",
    "video",
    "--ipc=host",
    "--cap-add=SYS_PTRACE",
    "--security-opt",
    "seccomp=unconfined",
)
HEALTH_PATH = "/health"
READY_PATH = "/v1/models"
# An environment variable name every artifact can carry: a POSIX shell assigns only these
# (`NAME=value`), and docker's --env-file refuses whitespace in names.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Values an env file writes bare. `docker run --env-file` takes the rest of a line verbatim
# (docker/cli pkg/kvfile: no quote removal, no expansion), while `set -a; . file` expands and
# unquotes it; they agree on text a POSIX shell takes literally in an assignment. These are
# such characters, simple to state: shlex's safe set plus ^ (NCCL's "all but" prefix). Empty
# is empty for both. Anything else an env file refuses (DeployError).
ENV_BARE = re.compile(r"[A-Za-z0-9_@%+=:,./^-]*\Z")
ENV_BARE_CHARS = "letters, digits and _ @ % + = : , . / - ^"
# Control characters and lone surrogates, which no env-file line can carry.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")  # aim_pick.contract.text.CONTROL


class DeployError(ValueError):
    """A value an artifact cannot carry faithfully; the message names it (one printable line)."""

    def __init__(self, message: str, variable: str | None = None):
        super().__init__(message)
        self.variable = variable


def one_line(value: object) -> str:
    """`value` as text for one line of a comment, a header or help text in any artifact or
    output (`aim_pick.contract.text.printable`: what is not printable written as escapes)."""
    from aim_pick.contract.text import printable  # imported when first needed: aim-pick's start-up

    return printable(value)


def _shown(text: str) -> str:
    return one_line(repr(text))


# Host-side choices that change an artifact's structure (immutable, keyword-constructed).
# A namedtuple, not a dataclass: importing dataclasses (and with it inspect) costs
# aim-pick's start-up more than everything it does on a GPU host.
DeployOptions = namedtuple(
    "DeployOptions",
    (
        "host_port",  # int
        "cache_dir",  # str: the model cache root on the host
        "container_name",  # str | None: default aim-<plan id>
        "visible_devices",  # tuple[str, ...] | None: HIP_VISIBLE_DEVICES when the plan uses part of the host
        "offline",  # bool: the checkpoint is complete in the cache: HF_HUB_OFFLINE=1
        "k8s_cache",  # "pvc" | "hostpath"
        "k8s_pvc",  # str
        "k8s_hf_secret",  # str
        "extra_env",  # tuple[tuple[str, str], ...]
    ),
    defaults=(DEFAULT_HOST_PORT, CACHE_ROOT, None, None, False, "pvc", "aim-model-cache", "hf-token", ()),
)
DeployOptions.__doc__ = "Host-side choices that change an artifact's structure."
DEFAULT_OPTIONS = DeployOptions()  # the published artifacts: default port, cache root, no pinning


def container_name(plan: dict, options: DeployOptions) -> str:
    return options.container_name or f"aim-{plan['plan_id']}"


def k8s_name(plan: dict) -> str:
    """A DNS-1035 label (Service names): lower case, digits, '-', at most 63 chars."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"aim-{plan['plan_id']}".lower()).strip("-")
    if len(name) > 63:
        import hashlib  # rare: only for very long plan ids

        digest = hashlib.sha256(plan["plan_id"].encode()).hexdigest()[:8]
        name = name[:54].rstrip("-") + "-" + digest
    return name


def cache_environment(cache_dir: str, offline: bool, host: bool = False) -> dict[str, str]:
    """What an engine needs to use the model cache: HF_HOME (the container's mount point, or
    the cache folder itself for an engine run on the host) and HF_HUB_OFFLINE=1 once the
    checkpoint is complete. `aim-engine cache env` prints exactly this."""
    env = {"HF_HOME": cache_dir if host else CACHE_ROOT}
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return env


def token_env(gated: bool) -> list[str]:
    """Variables passed by name from the caller's environment, never written down."""
    return ["HF_TOKEN"] if gated else []


def environment(plan: dict, options: DeployOptions) -> dict[str, str]:
    """Environment of the engine container (values; HF_TOKEN is passed by name only)."""
    env = dict(plan["env"])
    env.update(cache_environment(options.cache_dir, options.offline))
    if options.visible_devices is not None:
        # One variable only: ROCR_ and HIP_ masks stack, and vLLM rejects a differing CUDA_.
        env["HIP_VISIBLE_DEVICES"] = ",".join(options.visible_devices)
    env.update(dict(options.extra_env))
    for key in env:
        if not ENV_NAME.match(key):
            raise DeployError(
                f"environment variable name {_shown(key)} is not a portable name "
                "(letters, digits and _, not starting with a digit)",
                key,
            )
    return dict(sorted(env.items()))


def passthrough_env(plan: dict) -> list[str]:
    """Variables taken from the caller's environment by name, never written down."""
    return token_env(bool(plan.get("gated")))


def docker_argv(plan: dict, options: DeployOptions = DEFAULT_OPTIONS) -> list[str]:
    argv = [
        "docker",
        "run",
        "--rm",
        "--name",
        container_name(plan, options),
        *DOCKER_DEVICE_FLAGS,
        "-p",
        f"{options.host_port}:{plan['port']}",
        "-v",
        f"{options.cache_dir}:{CACHE_ROOT}",
    ]
    for key, value in environment(plan, options).items():
        argv += ["-e", f"{key}={value}"]
    for key in passthrough_env(plan):
        argv += ["-e", key]
    return argv + [plan["image"], *plan["container_argv"]]


def shell_command(argv: list[str]) -> str:
    """One line of POSIX shell whose words are exactly `argv`."""
    return shlex.join(argv)


def _compose_text(value: str) -> str:
    # Compose interpolates $VAR and ${VAR} in every string; $$ is a literal $.
    return value.replace("$", "$$")


def compose_service(plan: dict, options: DeployOptions = DEFAULT_OPTIONS) -> dict:
    env: dict[str, str | None] = {k: _compose_text(v) for k, v in environment(plan, options).items()}
    for key in passthrough_env(plan):
        env[key] = None  # no value: compose takes it from the shell running `docker compose`
    health = f"http://localhost:{plan['port']}{HEALTH_PATH}"
    return {
        "image": _compose_text(plan["image"]),
        "container_name": _compose_text(container_name(plan, options)),
        "command": [_compose_text(a) for a in plan["container_argv"]],
        "devices": ["/dev/kfd", "/dev/dri"],
        "group_add": ["video"],
        "ipc": "host",
        "cap_add": ["SYS_PTRACE"],
        "security_opt": ["seccomp:unconfined"],
        "ports": [f"{options.host_port}:{plan['port']}"],
        "volumes": [_compose_text(f"{options.cache_dir}:{CACHE_ROOT}")],
        "environment": env,
        "healthcheck": {
            # Both engine images ship python3; neither is guaranteed to ship curl.
            "test": ["CMD", "python3", "-c", f"import urllib.request; urllib.request.urlopen('{health}', timeout=5)"],
            "interval": "30s",
            "timeout": "10s",
            "retries": 5,
            "start_period": f"{startup_seconds(plan)}s",
        },
    }


def compose_document(plan: dict, options: DeployOptions = DEFAULT_OPTIONS) -> dict:
    return {"services": {k8s_name(plan): compose_service(plan, options)}}


def startup_seconds(plan: dict) -> int:
    """Time to allow for loading weights before health checks count: 10 min plus
    about 2 s per GiB of weights on the whole node (large checkpoints stream slowly)."""
    memory = plan.get("memory") or {}
    weights_gib = (memory.get("weights_bytes_per_gpu") or 0) * plan["gpu_count"] / 1024**3
    return int(600 + 2 * weights_gib)


def _k8s_text(value: str) -> str:
    # Kubernetes expands $(VAR) in command, args and env values; $$ is a literal $.
    return value.replace("$", "$$")


def k8s_objects(plan: dict, options: DeployOptions = DEFAULT_OPTIONS) -> list[dict]:
    name = k8s_name(plan)
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "aim-engine"}
    # The device plugin gives the pod exactly amd.com/gpu devices, numbered from 0:
    # host ordinals from aim-pick's pinning would point at GPUs the pod does not have.
    pod_options = options._replace(visible_devices=None)
    env: list[dict] = [{"name": k, "value": _k8s_text(v)} for k, v in environment(plan, pod_options).items()]
    for key in passthrough_env(plan):
        env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": options.k8s_hf_secret, "key": "token"}}})
    argv = [_k8s_text(a) for a in plan["container_argv"]]
    container: dict = {
        "name": "engine",
        "image": plan["image"],
        # The vLLM image's entrypoint is `vllm serve` (args only); SGLang's starts bash,
        # so its launch command replaces the entrypoint.
        **({"command": argv} if plan.get("image_entrypoint") is None else {"args": argv}),
        "ports": [{"name": "http", "containerPort": plan["port"]}],
        "env": env,
        "resources": {"limits": {"amd.com/gpu": plan["gpu_count"]}, "requests": {"amd.com/gpu": plan["gpu_count"]}},
        "volumeMounts": [{"name": "model-cache", "mountPath": CACHE_ROOT}, {"name": "dshm", "mountPath": "/dev/shm"}],
        "securityContext": {"capabilities": {"add": ["SYS_PTRACE"]}, "seccompProfile": {"type": "Unconfined"}},
        "startupProbe": {
            "httpGet": {"path": HEALTH_PATH, "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": max(30, startup_seconds(plan) // 10),
        },
        "readinessProbe": {"httpGet": {"path": READY_PATH, "port": "http"}, "periodSeconds": 10, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": HEALTH_PATH, "port": "http"}, "periodSeconds": 20, "failureThreshold": 3},
    }
    if options.k8s_cache == "hostpath":
        cache_volume = {"name": "model-cache", "hostPath": {"path": options.cache_dir, "type": "DirectoryOrCreate"}}
    else:
        cache_volume = {"name": "model-cache", "persistentVolumeClaim": {"claimName": options.k8s_pvc}}
    device_ids = [d.removeprefix("0x") for d in plan["device_ids"]]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {"key": "amd.com/gpu.device-id", "operator": "In", "values": device_ids}
                                        ]
                                    }
                                ]
                            }
                        }
                    },
                    "containers": [container],
                    "volumes": [cache_volume, {"name": "dshm", "emptyDir": {"medium": "Memory"}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": options.host_port, "targetPort": "http"}],
        },
    }
    return [deployment, service]


def env_file(plan: dict, options: DeployOptions = DEFAULT_OPTIONS) -> list[tuple[str, str]]:
    """Environment for running the engine outside a container (HF_HOME is the host cache)."""
    env = environment(plan, options)
    env["HF_HOME"] = options.cache_dir
    return sorted(env.items())


def env_bare(value: str) -> bool:
    """Whether `value` is written bare in an env file, read the same by sh and docker."""
    return bool(ENV_BARE.match(value))


def env_value(name: str | None, value: str, quote: bool = False) -> str:
    """`value` as written after `NAME=` in an env file.

    A bare value (`ENV_BARE`) reads the same through `set -a; . file` and through
    `docker run --env-file`. Any other value raises DeployError, or with `quote` is
    shell-quoted: exact for a POSIX shell, but docker would keep the quotes. A value with a
    control character (a line break would end the line for docker) is always refused.
    """
    if env_bare(value):
        return value
    if quote and not _CONTROL.search(value):
        return shlex.quote(value)
    why = "a control character" if _CONTROL.search(value) else "characters a shell would expand or unquote"
    what = f"{name}={_shown(value)}" if name else f"the value {_shown(value)}"
    raise DeployError(
        f"{what} cannot go in an env file: it has {why}, so `set -a; . file` and "
        f"`docker run --env-file` (which takes values verbatim) would read different values; "
        f"env-file values may hold only {ENV_BARE_CHARS}",
        name,
    )


def env_assignment(name: str, value: str, quote: bool = False) -> str:
    """One `NAME=value` line of an env file (see `env_value`)."""
    if not ENV_NAME.match(name):
        raise DeployError(f"environment variable name {_shown(name)} is not a portable name", name)
    return f"{name}={env_value(name, value, quote)}"
