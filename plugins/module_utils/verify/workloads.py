# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The verify rows of what runs: the registry holds the bundle's images, every pod is Ready,
and the Task API runs the image gitops deploys (the Argo CD Application: argocd.py)."""

from __future__ import annotations

import re

from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import (
    FAIL,
    OK,
    VerifyInputError,
    limited,
    make_row,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.task_results import json_body, task_error

# -- registry --------------------------------------------------------------------------


def registry_row(result, registry: str) -> dict:
    """The registry_inventory_info answer: every image of the bundle lock with its digest."""
    error = task_error(result, expect="images")
    if error:
        return make_row("registry", registry, FAIL, error)
    images = result.get("images") or []
    if not images:
        return make_row("registry", registry, FAIL, "the bundle lock lists no image: rebuild the bundle")
    problems = []
    for image in images:
        status = image.get("status")
        if status == "present":
            continue
        if status == "missing":
            problems.append(f"{image.get('name')}: digest {image.get('digest')} not in the registry")
        elif status == "tag_mismatch":
            tag_digest = image.get("tag_digest") or "nothing"
            problems.append(
                f"{image.get('name')}: the tag points to {tag_digest}, the bundle has {image.get('digest')}"
            )
        else:
            problems.append(f"{image.get('name')}: {status}")
    if not problems:
        return make_row("registry", registry, OK, f"all {len(images)} images of the bundle lock present")
    return make_row(
        "registry",
        registry,
        FAIL,
        [
            f"{len(problems)} of {len(images)} images wrong: rerun playbooks/preload.yml",
            *limited(problems),
        ],
    )


# -- pods ------------------------------------------------------------------------------


def _job_succeeded(job: dict) -> bool:
    status = job.get("status") or {}
    if (status.get("succeeded") or 0) > 0:
        return True
    return any(c.get("type") == "Complete" and c.get("status") == "True" for c in status.get("conditions") or [])


def _container_reason(cs: dict) -> str:
    state = cs.get("state") or {}
    restarts = cs.get("restartCount") or 0
    suffix = f", {restarts} restarts" if restarts else ""
    if "waiting" in state:
        waiting = state["waiting"] or {}
        reason = waiting.get("reason") or "waiting"
        message = waiting.get("message")
        return f"{cs.get('name')}: {reason}{': ' + message if message else ''}{suffix}"
    if "terminated" in state:
        term = state["terminated"] or {}
        return f"{cs.get('name')}: terminated ({term.get('reason') or 'exit ' + str(term.get('exitCode'))}){suffix}"
    return f"{cs.get('name')}: running, not ready{suffix}"


def pod_problems(pods, jobs=None, ignore=None) -> list[str]:
    """``namespace/pod: why`` for every pod that should be Ready and is not.

    Succeeded pods are fine; a Failed pod of a Job that later succeeded is history; pods
    being deleted are going away. ``ignore`` holds regular expressions matched against
    ``namespace/name``.
    """
    if not isinstance(pods, list):
        raise VerifyInputError("expected the list of Pod objects (k8s_info resources)")
    patterns = [re.compile(p) for p in (ignore or [])]
    succeeded_jobs = {
        ((j.get("metadata") or {}).get("namespace"), (j.get("metadata") or {}).get("name"))
        for j in jobs or []
        if _job_succeeded(j)
    }
    problems = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        name = f"{meta.get('namespace')}/{meta.get('name')}"
        if meta.get("deletionTimestamp") or any(p.search(name) for p in patterns):
            continue
        phase = status.get("phase") or "Unknown"
        if phase == "Succeeded":
            continue
        owners = meta.get("ownerReferences") or []
        job = next((o.get("name") for o in owners if o.get("kind") == "Job"), None)
        if phase == "Failed":
            if job and (meta.get("namespace"), job) in succeeded_jobs:
                continue
            why = status.get("reason") or "Failed"
            message = status.get("message")
            failed = [
                _container_reason(cs)
                for cs in status.get("containerStatuses") or []
                if ((cs.get("state") or {}).get("terminated") or {}).get("exitCode") not in (0, None)
            ]
            owner = f" (Job {job} has not succeeded)" if job else ""
            text = f"{name}: {why}{owner}{': ' + message if message else ''}"
            problems.append("; ".join([text, *failed]))
            continue
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        if phase == "Running" and (conditions.get("Ready") or {}).get("status") == "True":
            continue
        reasons = [
            _container_reason(cs)
            for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
            if not cs.get("ready") and ((cs.get("state") or {}).get("terminated") or {}).get("exitCode") != 0
        ]
        scheduled = conditions.get("PodScheduled") or {}
        if scheduled.get("status") == "False":
            reasons.insert(0, f"{scheduled.get('reason') or 'not scheduled'}: {scheduled.get('message') or ''}".strip())
        if phase == "Unknown":
            reasons.insert(0, "its node does not report (node down?)")
        if not reasons:
            ready = conditions.get("Ready") or {}
            reasons.append(ready.get("message") or ready.get("reason") or "not Ready")
        problems.append(f"{name}: {phase}: " + "; ".join(reasons))
    return sorted(problems)


def pods_row(pods_result, jobs_result=None, ignore=None) -> dict:
    """Every pod of every namespace Ready (or completed)."""
    error = task_error(pods_result, expect="resources")
    if error:
        return make_row("pods", "all namespaces", FAIL, error)
    pods = pods_result.get("resources") or []
    jobs = []
    if jobs_result is not None and not task_error(jobs_result, expect="resources"):
        jobs = jobs_result.get("resources") or []
    if not pods:
        return make_row("pods", "all namespaces", FAIL, "the cluster runs no pod at all")
    problems = pod_problems(pods, jobs, ignore)
    completed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
    if not problems:
        extra = f" ({completed} completed)" if completed else ""
        return make_row("pods", "all namespaces", OK, f"{len(pods)} pods Ready or completed{extra}")
    return make_row(
        "pods", "all namespaces", FAIL, [f"{len(problems)} of {len(pods)} pods not Ready", *limited(problems)]
    )


# -- The image the Task API runs -------------------------------------------------------

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _split_image(image: str) -> tuple[str, str, str]:
    """(repository with registry, tag, digest) of ``repo[:tag][@sha256:..]``; missing parts empty."""
    name, _sep, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest
    return name, "", digest


def deployed_image_row(
    pods_result,
    deployment_result,
    pushes_result=None,
    container: str = "task-api",
    target: str = "task-api",
    push_account: str = "",
) -> dict:
    """Which image the pods run (spec image and status imageID digest), and that it is the one
    gitops deploys (the Deployment Argo CD applied from gitops: the promoter writes
    ``<tag>@sha256:...``) and, when ``pushes_result`` is given, the one the registry recorded for
    that tag (the token server's ``GET /pushes``: exactly one push, by ``push_account``)."""
    for result, what in ((deployment_result, "Deployment"), (pods_result, "pods")):
        error = task_error(result, expect="resources")
        if error:
            return make_row("deployed", target, FAIL, f"reading the {what}: {error}")
    deployments = deployment_result.get("resources") or []
    if not deployments:
        return make_row("deployed", target, FAIL, "the Deployment does not exist: Argo CD has not synced gitops yet")
    spec_containers = ((deployments[0].get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    wanted = next((c.get("image") for c in spec_containers if c.get("name") == container), None)
    if not wanted:
        return make_row("deployed", target, FAIL, f"the Deployment has no container {container!r}")
    repository, tag, digest = _split_image(wanted)
    lines = [f"gitops deploys {wanted}"]
    problems = []
    if not _DIGEST.fullmatch(digest or ""):
        problems.append(
            f"gitops names {repository}:{tag} without a digest: no build was promoted yet "
            "(the promoter writes <tag>@sha256:..., docs/drone.md)"
        )
    running = []
    for pod in pods_result.get("resources") or []:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") != "Running":
            continue
        name = meta.get("name", "?")
        status = next(
            (c for c in (pod.get("status") or {}).get("containerStatuses") or [] if c.get("name") == container), None
        )
        spec_image = next(
            (c.get("image") for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name") == container), ""
        )
        image_id = (status or {}).get("imageID") or ""
        found = _DIGEST.search(image_id)
        running.append(name)
        lines.append(f"{name} runs {spec_image or '?'} (imageID {image_id or 'not reported'})")
        if spec_image != wanted:
            problems.append(f"{name} runs {spec_image or 'no such container'}, not {wanted}: rollout not finished")
        elif not found:
            problems.append(f"{name}: the kubelet reports no image digest (imageID {image_id or 'empty'})")
        elif digest and found.group(0) != digest:
            problems.append(f"{name} runs digest {found.group(0)}, gitops names {digest}")
    if not running:
        problems.append(f"no Running pod of {target}")
    if pushes_result is not None:
        error = task_error(pushes_result, expect="status")
        if not error and pushes_result.get("status") != 200:
            error = f"answered {pushes_result.get('status')}: {json_body(pushes_result) or pushes_result.get('msg')}"
        pushes = ((pushes_result.get("json") or {}).get("pushes") if not error else None) or []
        if error:
            problems.append(f"the registry's push record (GET /pushes): {error}")
        elif len(pushes) != 1:
            said = "; ".join(f"{p.get('digest')} by {p.get('account')} at {p.get('time')}" for p in pushes) or "none"
            problems.append(f"the registry recorded {len(pushes)} pushes of {repository}:{tag}, not one: {said}")
        else:
            (push,) = pushes
            lines.append(f"the registry recorded one push of :{tag}: {push.get('digest')} by {push.get('account')}")
            if digest and push.get("digest") != digest:
                problems.append(f"the last build pushed {push.get('digest')} as :{tag}, gitops names {digest}")
            if push_account and push.get("account") != push_account:
                problems.append(f":{tag} was pushed by {push.get('account')}, not the CI account {push_account}")
    else:
        lines.append("push record not checked (needs HTTPS to the registry's token server)")
    if problems:
        return make_row("deployed", target, FAIL, limited(problems) + lines)
    return make_row("deployed", target, OK, [f"{len(running)} pod(s) run {repository}:{tag}@{digest}", *lines[1:]])
