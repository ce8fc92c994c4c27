"""What aim-pick prints: the detection summary, the plan in each --format, and the
`explain` listing. Presentation only; every decision was made in pick.py."""

from __future__ import annotations

import json

from aim_pick.contract import deploy
from aim_pick.contract.files import write_atomic
from aim_pick.contract.units import gib
from aim_pick.errors import EXIT_NO_PLAN, EXIT_OK, ApiError, Usage


def detected_summary(found: dict, host) -> dict:
    devices = found["devices"]
    return {
        "gpu": host.gpu,
        "count": host.count,
        "partition": host.partition,
        "source": found["source"] or ("simulated" if host.simulated else None),
        "simulated": host.simulated,
        "apu": host.apu,
        "memory_bytes_per_device": (
            host.device_bytes or devices[host.group[0]].get("vram_bytes") if host.group else None
        ),
        "levels": {
            "host": len(devices),
            "container": len(found["container"]),
            "process": len(found["process"]),
            "usable": host.count,
        },
        "container_note": found["container_note"],
        "devices": [
            {
                "index": i,
                "gpu": d.get("gpu"),
                "device_id": d.get("device_id"),
                "gfx": d.get("gfx"),
                "vram_bytes": d.get("vram_bytes"),
                "partition": d.get("partition"),
                "physical": d.get("physical"),
            }
            for i, d in enumerate(devices)
        ],
        "group": host.group,
        "sources_tried": found["tried"],
    }


def _json(body: dict) -> str:
    return json.dumps(body, indent=2, sort_keys=True)


def no_gpu_json(detected: dict) -> str:
    return _json({"detected": detected, "request": None, "plan": None, "candidates": []})


def without_plan(fmt: str, detected, request, candidates, warnings, out, err, everything=False) -> int:
    if fmt == "json":
        body = {
            "detected": detected,
            "request": request_dict(request),
            "plan": None,
            "candidates": candidates,
            "warnings": warnings,
        }
        print(_json(body), file=out)
    else:
        stream = out if fmt == "explain" else err
        print(explain_text(detected, request, None, candidates, None, warnings, None, everything), file=stream)
    return EXIT_NO_PLAN


def request_dict(request) -> dict | None:
    return dict(request._asdict()) if request is not None else None


def plan_text(fmt: str, plan: dict, options: deploy.DeployOptions) -> str:
    """The plan as a compose file, Kubernetes list or env file (compose and k8s as JSON, which is YAML).

    The env file follows the published env files' rules (deploy.env_value): values bare when
    `set -a; . file` and `docker run --env-file` read them the same, comments one line; a value
    that is not (say a --cache-dir with a space) is shell-quoted, for a POSIX shell only
    (`env_quoted` names them, and aim-pick says so on stderr)."""
    if fmt == "compose":
        return _json(deploy.compose_document(plan, options))
    if fmt == "k8s":
        return _json({"apiVersion": "v1", "kind": "List", "items": deploy.k8s_objects(plan, options)})
    lines = [deploy.env_assignment(k, v, quote=True) for k, v in deploy.env_file(plan, options)]
    lines += [
        f"# {deploy.one_line(plan['model'])} is gated: also export {name} (never stored here)"
        for name in deploy.passthrough_env(plan)
    ]
    return "\n".join(lines)


def env_quoted(plan: dict, options: deploy.DeployOptions) -> list[str]:
    """Variables of the env output that needed shell quoting (docker --env-file would keep the quotes)."""
    return [k for k, v in deploy.env_file(plan, options) if not deploy.env_bare(v)]


def with_plan(
    fmt, output, plan, options, detected, request, candidates, cache, warnings, out, err, everything=False
) -> int:
    try:
        return _with_plan(
            fmt, output, plan, options, detected, request, candidates, cache, warnings, out, err, everything
        )
    except deploy.DeployError as exc:
        if exc.variable == "HF_HOME":  # the env output's HF_HOME is --cache-dir
            raise Usage(f"--cache-dir: {exc}") from None
        raise ApiError(f"plan {deploy.one_line(plan.get('plan_id'))}: {exc}") from None


def _with_plan(fmt, output, plan, options, detected, request, candidates, cache, warnings, out, err, everything) -> int:
    if fmt == "docker":
        for warning in warnings:
            print(f"aim-pick: warning: {deploy.one_line(warning)}", file=err)
        text = deploy.shell_command(deploy.docker_argv(plan, options))
    elif fmt == "json":
        argv = deploy.docker_argv(plan, options)
        body = {
            "detected": detected,
            "request": request_dict(request),
            "plan": {**plan, "docker_argv": argv, "docker_command": deploy.shell_command(argv)},
            "candidates": candidates,
            "cache": cache,
            "warnings": warnings,
        }
        text = _json(body)
    elif fmt == "explain":
        text = explain_text(detected, request, plan, candidates, cache, warnings, options, everything)
    else:
        text = plan_text(fmt, plan, options)
    quoted = env_quoted(plan, options) if fmt == "env" else []
    if quoted:
        print(
            f"aim-pick: note: {', '.join(quoted)} needed shell quoting: load this env output with "
            "`set -a; . file` (docker run --env-file would keep the quotes as part of the value)",
            file=err,
        )
    if output:
        try:
            write_atomic(output, (text + "\n").encode("utf-8"))
        except OSError as exc:
            raise Usage(f"cannot write {output}: {exc}") from None
        print(deploy.one_line(f"aim-pick: wrote {output} ({plan['plan_id']})"), file=err)
    else:
        print(text, file=out)
    return EXIT_OK


def explain_text(detected, request, plan, candidates, cache, warnings, options, everything=False) -> str:
    lv = detected["levels"]
    memory = detected["memory_bytes_per_device"]
    lines = [
        f"Detected: {detected['count']} x {detected['gpu'] or 'no supported GPU'}"
        + (f", {detected['partition']} partitions" if detected["partition"] not in (None, "SPX") else "")
        + (f", {gib(memory)} per device" if memory else "")
        + f" (source: {detected['source']})"
    ]
    if detected["simulated"]:
        lines.append("  simulated or forced by AIM_GPU_MODEL / AIM_GPU_COUNT")
    if detected["apu"]:
        lines.append("  this is an APU (MI300A): GPU memory is shared with the CPU cores")
    lines.append(
        f"  levels: host {lv['host']}, container {lv['container']} ({detected['container_note']}), "
        f"process {lv['process']} -> usable {lv['usable']}"
    )
    for warning in warnings:
        lines.append(f"  warning: {warning}")
    if request:
        lines.append(
            f"Request: {request.model}, {request.gpus} GPU(s) {request.count_mode}, precision {request.precision}, "
            f"backend {request.backend}, objective {request.objective} (lookup key {request.key})"
        )
    if cache is not None and plan is not None:
        if cache.get("complete"):
            lines.append(
                f"Cache: {plan['checkpoint']} is complete in {options.cache_dir} (commit {cache.get('commit')}): "
                "HF_HUB_OFFLINE=1"
            )
        else:
            lines.append(
                f"Cache: {plan['checkpoint']} is not complete in {options.cache_dir} ({cache.get('reason')}); "
                "the cache is mounted writable so the engine's download fills it"
            )
    from aim_pick.contract import listing  # only explain needs it

    lines.append("Candidates:")
    lines += [line for line in listing.lines(candidates, listing.model_name(request.model), everything) if line]
    if plan is None:
        lines.append("No plan fits: every candidate is listed above with its reason (--all: one per line).")
    else:
        words = (
            [plan["status"]] + (["measured"] if plan.get("measured") else []) + (["tight"] if plan.get("tight") else [])
        )
        replicas = plan.get("replicas", 1)
        layout = (
            f"{replicas} replicas x {plan.get('gpus_per_replica')} GPU(s)"
            if replicas > 1
            else f"{plan['gpu_count']} GPU(s)"
        )
        lines.append(f"Plan: {plan['plan_id']} ({', '.join(words)}; {layout}; recipe {plan['recipe_id']})")
        lines.append("Command:")
        lines.append("  " + deploy.shell_command(deploy.docker_argv(plan, options)))
    # Text from the catalogue, the host and the API: every line stays one line, with no
    # control character reaching the terminal (the command above is shown, not run).
    return "\n".join(deploy.one_line(line) for line in lines)
