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
        "k8s_pvc",  # str | None: the cache claim; default one per checkpoint (cache_claim)
        "k8s_hf_secret",  # str
        "extra_env",  # tuple[tuple[str, str], ...]
    ),
    defaults=(DEFAULT_HOST_PORT, CACHE_ROOT, None, None, False, "pvc", None, "hf-token", ()),
)
DeployOptions.__doc__ = "Host-side choices that change an artifact's structure."
DEFAULT_OPTIONS = DeployOptions()  # the published artifacts: default port, cache root, no pinning


def container_name(plan: dict, options: DeployOptions) -> str:
    return options.container_name or f"aim-{plan['plan_id']}"


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


# The variables that choose which GPUs a process sees. A plan never carries them: the host
# picks its GPUs (aim-pick pins a part of a host with HIP_VISIBLE_DEVICES alone), and a fixed
# list written in a recipe would hide GPUs from the engine's TP group or stack with that pin.
VISIBILITY_ENV = ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL")


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


def docker_node_argv(plan: dict, leader: bool, options: DeployOptions = DEFAULT_OPTIONS) -> list[str]:
    """`docker run` of one host of a multi-node plan: host networking (the engines' ranks meet on
    the hosts' addresses and the leader serves its port there), the host's GPUs, the cache, and
    the host's engine command with the rank and address as stand-ins (RANK_WORD, ADDRESS_WORD)."""
    role = "leader" if leader else "worker"
    argv = ["docker", "run", "--rm", "--name", f"{container_name(plan, options)}-{role}", *DOCKER_DEVICE_FLAGS]
    argv += ["--network=host", "-v", f"{options.cache_dir}:{CACHE_ROOT}"]
    for key, value in environment(plan, options).items():
        argv += ["-e", f"{key}={value}"]
    for key in passthrough_env(plan):
        argv += ["-e", key]
    return argv + [plan["image"], *node_argv(plan, leader)]


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
    about 2 s per GiB of weights on one host (large checkpoints stream slowly; the hosts of a
    multi-node plan load their shares at once)."""
    memory = plan.get("memory") or {}
    weights_gib = (memory.get("weights_bytes_per_gpu") or 0) * (plan["gpu_count"] // nodes(plan)) / 1024**3
    return int(600 + 2 * weights_gib)


def _k8s_text(value: str) -> str:
    # Kubernetes expands $(VAR) in command, args and env values; $$ is a literal $.
    return value.replace("$", "$$")


# Weight formats the engines do not load when a repo has safetensors (every catalogue checkpoint
# does): the download leaves them out, as `aim-engine cache download` does (aim_engine.cache.hub).
OTHER_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack", "*.gguf", "*.onnx", "*.onnx_data")
# The cache claim holds the checkpoint plus the hub's own files; the margin covers a revision
# update (new blobs are written before old ones are pruned) and the tokenizer/config files.
CACHE_MARGIN = 1.3
CACHE_MIN_GIB = 10
# The engines' own queue-length gauges, which the optional HorizontalPodAutoscaler scales on
# (vLLM: vllm:num_requests_waiting; SGLang: sglang:num_queue_reqs), as a Prometheus adapter
# exposes them per pod. Scaling adds a replica when more than this many requests wait per pod.
QUEUE_METRIC = {"vllm": "vllm:num_requests_waiting", "sglang": "sglang:num_queue_reqs"}
QUEUE_TARGET = 4
HPA_MAX_REPLICAS = 4
K8S_MANIFESTS = "manifests.yaml"
K8S_KUSTOMIZATION = "kustomization.yaml"
K8S_HPA = "hpa.yaml"
K8S_SECRET = "hf-token-secret.yaml"
SECRET_PLACEHOLDER = "<your Hugging Face token>"  # a template's placeholder: never a token


def _slug(text: str, limit: int = 63) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if len(name) > limit:
        import hashlib  # rare: only for very long names

        name = name[: limit - 9].rstrip("-") + "-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return name


def k8s_name(plan: dict, options: DeployOptions = DEFAULT_OPTIONS) -> str:
    """A DNS-1035 label (Service names): lower case, digits, '-', at most 63 chars; from the
    container name asked for (aim-pick --name), else aim-<plan id>."""
    return _slug(options.container_name or f"aim-{plan['plan_id']}")


def cache_claim(plan: dict, options: DeployOptions) -> str:
    """The cache claim's name: the one asked for, else one per checkpoint, so every plan of a
    checkpoint shares its download and a claim is never asked to shrink for a smaller one."""
    return options.k8s_pvc or _slug(f"aim-cache-{plan['checkpoint']}")


def cache_gib(plan: dict) -> int:
    """Size of the cache claim: the checkpoint's stored bytes (else the weights' in memory) with margin."""
    stored = plan.get("checkpoint_bytes")
    if not stored:
        memory = plan.get("memory") or {}
        stored = (memory.get("weights_bytes_per_gpu") or 0) * plan["gpu_count"]
    return max(CACHE_MIN_GIB, -(-int(stored * CACHE_MARGIN) // 1024**3))


def download_argv(plan: dict) -> list[str]:
    """The init container's command: huggingface_hub's `hf download` (in both engine images) of
    the plan's checkpoint into $HF_HOME/hub, the cache layout the engine reads. One --exclude per
    pattern: the CLI takes further bare words as file names to fetch instead of the snapshot."""
    excluded = [word for pattern in OTHER_WEIGHTS for word in ("--exclude", pattern)]
    return ["hf", "download", plan["checkpoint"], *excluded]


def _pod(plan: dict, options: DeployOptions, container: dict, cache_volume: dict, init: bool) -> dict:
    device_ids = [d.removeprefix("0x") for d in plan["device_ids"]]
    pod: dict = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "amd.com/gpu.device-id", "operator": "In", "values": device_ids}]}
                    ]
                }
            }
        },
    }
    if init:
        env = [{"name": "HF_HOME", "value": CACHE_ROOT}, *_token_env(plan, options)]
        pod["initContainers"] = [
            {
                "name": "download",
                "image": plan["image"],
                "command": [_k8s_text(a) for a in download_argv(plan)],
                "env": env,
                "volumeMounts": [{"name": "model-cache", "mountPath": CACHE_ROOT}],
            }
        ]
    pod["containers"] = [container]
    pod["volumes"] = [cache_volume, {"name": "dshm", "emptyDir": {"medium": "Memory"}}]
    return pod


def _token_env(plan: dict, options: DeployOptions) -> list[dict]:
    return [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": options.k8s_hf_secret, "key": "token"}}}
        for key in passthrough_env(plan)
    ]


def _engine_container(plan: dict, options: DeployOptions, argv: list[str], probes: bool = True) -> dict:
    # The device plugin gives the pod exactly amd.com/gpu devices, numbered from 0:
    # host ordinals from aim-pick's pinning would point at GPUs the pod does not have.
    pod_options = options._replace(visible_devices=None)
    env: list[dict] = [{"name": k, "value": _k8s_text(v)} for k, v in environment(plan, pod_options).items()]
    env += _token_env(plan, options)
    argv = [_k8s_text(a) for a in argv]
    gpus = plan["gpu_count"] // nodes(plan)
    container: dict = {
        "name": "engine",
        "image": plan["image"],
        # The vLLM image's entrypoint is `vllm serve` (args only); SGLang's starts bash,
        # so its launch command replaces the entrypoint.
        **({"command": argv} if plan.get("image_entrypoint") is None else {"args": argv}),
        "ports": [{"name": "http", "containerPort": plan["port"]}],
        "env": env,
        "resources": {"limits": {"amd.com/gpu": gpus}, "requests": {"amd.com/gpu": gpus}},
        "volumeMounts": [{"name": "model-cache", "mountPath": CACHE_ROOT}, {"name": "dshm", "mountPath": "/dev/shm"}],
        "securityContext": {"capabilities": {"add": ["SYS_PTRACE"]}, "seccompProfile": {"type": "Unconfined"}},
    }
    if probes:
        # The init container has downloaded the weights: the startup probe covers loading only.
        container["startupProbe"] = {
            "httpGet": {"path": HEALTH_PATH, "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": max(30, startup_seconds(plan) // 10),
        }
        container["readinessProbe"] = {
            "httpGet": {"path": READY_PATH, "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        }
        container["livenessProbe"] = {
            "httpGet": {"path": HEALTH_PATH, "port": "http"},
            "periodSeconds": 20,
            "failureThreshold": 3,
        }
    return container


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "aim-engine"}


LWS_API = "leaderworkerset.x-k8s.io/v1"
# What LeaderWorkerSet (kubernetes-sigs/lws, api/leaderworkerset/v1) sets in every pod of a group:
# the leader's address (a stable DNS name) and the pod's index in the group (0: the leader).
LWS_LEADER_ADDRESS = "$(LWS_LEADER_ADDRESS)"
LWS_WORKER_INDEX = "$(LWS_WORKER_INDEX)"
ROLE_LABEL = "app.kubernetes.io/component"


def nodes(plan: dict) -> int:
    return int(plan.get("nodes") or 1)


# Stand-ins for the words only a host knows (its rank, the leader's address) in a multi-node
# command; each artifact writes them its own way (Kubernetes' $(VAR), a script's "$VAR"). NUL
# cannot occur in a word of any artifact, so a stand-in never matches plan text.
RANK_WORD = "\x00node-rank\x00"
ADDRESS_WORD = "\x00leader-address\x00"


def node_argv(plan: dict, leader: bool) -> list[str]:
    """The engine command of one host of a multi-node plan: the plan's command, then how many
    hosts (where the engine takes that apart), this host's rank and the leader's address (the
    engine data's flags for the plan's layout, which the plan carries); workers add their own
    flags (vLLM: --headless, no API server). A host's rank is its index: in the expert-data
    layout it is the host's first data-parallel rank, and each host runs one."""
    multi = plan["multi_node"]
    port = multi["address_port"]
    count = [multi["nodes_flag"], str(nodes(plan))] if multi.get("nodes_flag") else []
    argv = [
        *plan["container_argv"],
        *count,
        multi["rank_flag"],
        "0" if leader else RANK_WORD,
        multi["address_flag"],
        f"{ADDRESS_WORD}:{port}" if port else ADDRESS_WORD,
    ]
    return argv if leader else argv + list(multi["worker_argv"])


def _k8s_node_argv(plan: dict, leader: bool) -> list[str]:
    words = [_k8s_text(a) for a in node_argv(plan, leader)]
    return [w.replace(RANK_WORD, LWS_WORKER_INDEX).replace(ADDRESS_WORD, LWS_LEADER_ADDRESS) for w in words]


def k8s_objects(plan: dict, options: DeployOptions = DEFAULT_OPTIONS) -> list[dict]:
    """The bundle's resources, the workload first: a Deployment (one host) or a LeaderWorkerSet
    (several), its Service, the cache PersistentVolumeClaim (unless the cache is a hostPath) and
    a PodDisruptionBudget."""
    name = k8s_name(plan, options)
    labels = _labels(name)
    claim = cache_claim(plan, options)
    if options.k8s_cache == "hostpath":
        cache_volume = {"name": "model-cache", "hostPath": {"path": options.cache_dir, "type": "DirectoryOrCreate"}}
    else:
        cache_volume = {"name": "model-cache", "persistentVolumeClaim": {"claimName": claim}}
    # A complete cache (aim-pick's offline) needs no download, and an offline cluster cannot make one.
    init = not options.offline
    selector = {"app.kubernetes.io/name": name}
    if nodes(plan) > 1:
        workload = _leader_worker_set(plan, options, name, labels, cache_volume, init)
        selector = {**selector, ROLE_LABEL: "leader"}  # only the leader serves HTTP
    else:
        container = _engine_container(plan, options, plan["container_argv"])
        workload = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                # One pod serves the whole plan: a throughput plan's replicas are the engine's own
                # data parallelism inside it. More pods: the kustomization's `replicas`.
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": _pod(plan, options, container, cache_volume, init),
                },
            },
        }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": options.host_port, "targetPort": "http"}],
        },
    }
    objects = [workload, service]
    if options.k8s_cache != "hostpath":
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim, "labels": {"app.kubernetes.io/part-of": "aim-engine"}},
                "spec": {
                    # several pods (replicas, other plans of the checkpoint) read one download
                    "accessModes": ["ReadWriteMany"],
                    "resources": {"requests": {"storage": f"{cache_gib(plan)}Gi"}},
                },
            }
        )
    objects.append(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "labels": labels},
            # One pod at a time may be drained: with replicas > 1 the others keep serving, and a
            # single pod is never held against a node drain forever (minAvailable: 1 would).
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}},
        }
    )
    return objects


def _leader_worker_set(
    plan: dict, options: DeployOptions, name: str, labels: dict, cache_volume: dict, init: bool
) -> dict:
    """One group of `nodes` pods, one per host (amd.com/gpu: the host's GPUs each): the leader
    (rank 0) serves HTTP and has the probes, the workers join it by its address."""
    templates = {}
    for role in ("leader", "worker"):
        leader = role == "leader"
        container = _engine_container(plan, options, [], probes=leader)
        container["command" if "command" in container else "args"] = _k8s_node_argv(plan, leader)
        if not leader:
            del container["ports"]  # workers serve no HTTP
        # RDMA memory registration needs IPC_LOCK; the network itself is the cluster's (see the header)
        container["securityContext"]["capabilities"]["add"] = ["SYS_PTRACE", "IPC_LOCK"]
        templates[role] = {
            "metadata": {"labels": {**labels, ROLE_LABEL: role}},
            "spec": _pod(plan, options, container, cache_volume, init),
        }
    return {
        "apiVersion": LWS_API,
        "kind": "LeaderWorkerSet",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "leaderWorkerTemplate": {
                "size": nodes(plan),
                # a host lost is the whole model lost: the group restarts together
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": templates["leader"],
                "workerTemplate": templates["worker"],
            },
        },
    }


def k8s_hpa(plan: dict, options: DeployOptions = DEFAULT_OPTIONS, workload: dict | None = None) -> dict:
    """An optional HorizontalPodAutoscaler on the engine's queue length (needs a metrics adapter).
    `workload`: the plan's Deployment or LeaderWorkerSet, when the caller has it already."""
    if workload is None:
        workload = k8s_objects(plan, options)[0]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": workload["metadata"]["name"], "labels": workload["metadata"]["labels"]},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": workload["apiVersion"],
                "kind": workload["kind"],
                "name": workload["metadata"]["name"],
            },
            "minReplicas": 1,
            "maxReplicas": HPA_MAX_REPLICAS,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": QUEUE_METRIC[plan["backend"]]},
                        "target": {"type": "AverageValue", "averageValue": str(QUEUE_TARGET)},
                    },
                }
            ],
        },
    }


def k8s_secret_template(plan: dict, options: DeployOptions = DEFAULT_OPTIONS) -> dict:
    """The HF token Secret as a template: a placeholder where the token goes, never a value."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": options.k8s_hf_secret, "labels": {"app.kubernetes.io/part-of": "aim-engine"}},
        "type": "Opaque",
        "stringData": {"token": SECRET_PLACEHOLDER},
    }


def _image_name(image: str) -> tuple[str, str | None]:
    """(name, tag) of an image reference, as kustomize's `images` matches it."""
    if "@" in image:
        return image.split("@", 1)[0], None
    head, _, tail = image.rpartition(":")
    if head and "/" not in tail:
        return head, tail
    return image, None


def k8s_kustomization(plan: dict, options: DeployOptions = DEFAULT_OPTIONS) -> dict:
    """`kubectl apply -k` over the bundle. The image entry maps the image to itself, so a registry
    mirror is one edit of newName; the template's comments show the other overrides."""
    name, tag = _image_name(plan["image"])
    image: dict = {"name": name, "newName": name}
    if tag:
        image["newTag"] = tag
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [K8S_MANIFESTS],
        "images": [image],
    }


def k8s_files(plan: dict, options: DeployOptions = DEFAULT_OPTIONS) -> dict[str, list[dict]]:
    """The bundle's files (name -> objects): manifests, kustomization, the optional HPA, and for
    gated models the Secret template (neither is in the kustomization's resources)."""
    objects = k8s_objects(plan, options)
    files = {
        K8S_MANIFESTS: objects,
        K8S_KUSTOMIZATION: [k8s_kustomization(plan, options)],
        K8S_HPA: [k8s_hpa(plan, options, objects[0])],
    }
    if plan.get("gated"):
        files[K8S_SECRET] = [k8s_secret_template(plan, options)]
    return files


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
