# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The verify rows read from the monitoring stack: Linkerd's mTLS edges and the Prometheus
targets and rules (both asked of Prometheus' HTTP API), and Grafana's datasources."""

from __future__ import annotations

import math
import re

from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import (
    FAIL,
    OK,
    VerifyInputError,
    limited,
    make_row,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.task_results import (
    item_of,
    json_body,
    results_of,
    task_error,
)

# -- Linkerd ---------------------------------------------------------------------------


def _prometheus_data(result, what: str) -> tuple[object, str | None]:
    """(data, error) of a Prometheus HTTP API answer fetched with uri."""
    error = task_error(result, expect="status")
    if error:
        return None, error
    status = int(result["status"])
    body = json_body(result)
    if status in (401, 403):
        return None, f"HTTP {status} from Prometheus: set verify_prometheus_username and its password credential"
    if not isinstance(body, dict):
        return None, f"HTTP {status}: the answer to {what} is not Prometheus JSON"
    if body.get("status") != "success":
        return None, f"HTTP {status}: {body.get('errorType', 'error')}: {body.get('error', 'no detail')}"
    return body.get("data"), None


def linkerd_edges_row(result, namespaces, target: str = "meshed namespaces") -> dict:
    """Every edge between meshed namespaces carries mTLS.

    result: uri of /api/v1/query with a vector whose series carry ``namespace``,
    ``deployment``, ``dst_namespace``, ``dst_deployment`` and ``tls`` and whose value is a
    rate. Edges with a zero rate are ignored; an edge is mTLS when all its traffic has
    ``tls="true"``.
    """
    data, error = _prometheus_data(result, "the Linkerd query")
    if error:
        return make_row("linkerd", target, FAIL, error)
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        return make_row("linkerd", target, FAIL, "the query must return an instant vector (resultType vector)")
    meshed = set(namespaces or [])
    edges: dict[tuple, dict] = {}
    for series in data.get("result") or []:
        metric = series.get("metric") or {}
        try:
            value = float((series.get("value") or [0, "0"])[1])
        except (TypeError, ValueError, IndexError):
            continue
        if value <= 0 or math.isnan(value):
            continue
        src_ns, dst_ns = metric.get("namespace"), metric.get("dst_namespace")
        if src_ns not in meshed or dst_ns not in meshed:
            continue
        key = (src_ns, metric.get("deployment") or "?", dst_ns, metric.get("dst_deployment") or "?")
        edge = edges.setdefault(key, {"tls": 0.0, "plain": 0.0, "kinds": set()})
        if metric.get("tls") == "true":
            edge["tls"] += value
        else:
            edge["plain"] += value
            edge["kinds"].add(metric.get("tls") or "missing")
    if not edges:
        return make_row(
            "linkerd",
            target,
            FAIL,
            [
                f"no traffic between meshed namespaces ({', '.join(sorted(meshed))}) in the query window",
                "does Prometheus scrape the Linkerd proxies (set verify_linkerd_prometheus_url to the one that does)?",
            ],
        )
    plain = [
        f"{k[0]}/{k[1]} -> {k[2]}/{k[3]}: {e['plain']:.3g}/s without mTLS (tls={','.join(sorted(e['kinds']))})"
        for k, e in sorted(edges.items())
        if e["plain"] > 0
    ]
    if plain:
        return make_row("linkerd", target, FAIL, [f"{len(plain)} of {len(edges)} edges not mTLS", *limited(plain)])
    return make_row("linkerd", target, OK, f"{len(edges)} edges, all mTLS")


# -- Prometheus ------------------------------------------------------------------------


def prometheus_targets_row(result, target: str = "targets") -> dict:
    """Every active target is up; the down ones with their scrape URL and last error."""
    data, error = _prometheus_data(result, "/api/v1/targets")
    if error:
        return make_row("prometheus", target, FAIL, error)
    active = (data or {}).get("activeTargets") or []
    if not active:
        return make_row("prometheus", target, FAIL, "Prometheus has no active target: are the ServiceMonitors applied?")
    down = []
    for t in active:
        health = t.get("health")
        if health == "up":
            continue
        job = t.get("scrapePool") or (t.get("labels") or {}).get("job") or "?"
        why = t.get("lastError") or ("not scraped yet" if health == "unknown" else "")
        down.append(f"{job} {t.get('scrapeUrl') or ''}: {health}{': ' + why if why else ''}")
    if down:
        return make_row(
            "prometheus", target, FAIL, [f"{len(down)} of {len(active)} targets not up", *limited(sorted(down))]
        )
    return make_row("prometheus", target, OK, f"{len(active)} active targets up")


def prometheus_rules_row(result, group_pattern: str = "^gauntlet", target: str = "rules") -> dict:
    """The gauntlet rule groups are loaded and no rule is in error."""
    data, error = _prometheus_data(result, "/api/v1/rules")
    if error:
        return make_row("prometheus", target, FAIL, error)
    groups = (data or {}).get("groups") or []
    pattern = re.compile(group_pattern)
    ours = [g for g in groups if pattern.search(str(g.get("name", "")))]
    rules = [r for g in groups for r in g.get("rules") or []]
    broken = sorted(
        f"{g.get('name')}/{r.get('name')}: {r.get('lastError') or 'health ' + str(r.get('health'))}"
        for g in groups
        for r in g.get("rules") or []
        if r.get("health") not in ("ok", "unknown", None)
    )
    problems = []
    if not ours:
        problems.append(
            f"no rule group matches {group_pattern!r} among {len(groups)} groups: are the PrometheusRules applied?"
        )
    problems += broken
    if problems:
        return make_row("prometheus", target, FAIL, limited(problems))
    return make_row(
        "prometheus",
        target,
        OK,
        f"{len(ours)} gauntlet groups ({len(groups)} groups, {len(rules)} rules), none in error",
    )


# -- Grafana ---------------------------------------------------------------------------


def grafana_datasource_rows(list_result, health_results, proxy_paths=None, target: str = "grafana") -> list[dict]:
    """One row per datasource: its health check answers OK.

    health_results: the registered loop over the datasources of the list. A datasource
    whose type is in ``proxy_paths`` ({type: path}) was asked ``path`` through Grafana's
    datasource proxy (/api/datasources/proxy/uid/<uid><path>) and is healthy on HTTP 200
    with a JSON object; any other was asked /api/datasources/uid/<uid>/health, which only
    types with a backend plugin answer (Grafana's Alertmanager datasource is frontend-only:
    its plugin.json has no backend, and /health answers 404 "Plugin not found").
    """
    proxy_paths = proxy_paths or {}
    if not isinstance(proxy_paths, dict):
        raise VerifyInputError("proxy_paths must map a datasource type to a path, e.g. {alertmanager: /api/v2/status}")
    error = task_error(list_result, expect="status")
    if not error and int(list_result["status"]) != 200:
        status = int(list_result["status"])
        error = f"HTTP {status}" + (
            ": the admin password (credential monitoring/grafana-admin-password) was refused" if status == 401 else ""
        )
    if error:
        return [make_row("grafana", f"{target} datasources", FAIL, error)]
    sources = json_body(list_result)
    if not isinstance(sources, list) or not sources:
        return [make_row("grafana", f"{target} datasources", FAIL, "Grafana has no datasource")]
    by_uid = {}
    for result in results_of(health_results):
        item = item_of(result)
        if isinstance(item, dict):
            by_uid[item.get("uid")] = result
    rows = []
    for source in sorted(sources, key=lambda s: str(s.get("name"))):
        where = f"{target} datasource {source.get('name')} ({source.get('type')})"
        result = by_uid.get(source.get("uid"))
        if result is None:
            rows.append(make_row("grafana", where, FAIL, "health not checked"))
            continue
        error = task_error(result, expect="status")
        if error:
            rows.append(make_row("grafana", where, FAIL, error))
            continue
        body = json_body(result)
        message = body.get("message") if isinstance(body, dict) else None
        status = int(result["status"])
        path = proxy_paths.get(source.get("type"))
        if path:
            healthy = status == 200 and isinstance(body, dict)
            detail = f"HTTP {status} from {path} through Grafana's datasource proxy"
            if status == 200 and not healthy:
                detail += ": the answer is not JSON (not the datasource's API?)"
            elif message:
                detail += f": {message}"
            rows.append(make_row("grafana", where, OK if healthy else FAIL, detail))
            continue
        healthy = status == 200 and isinstance(body, dict) and str(body.get("status", "")).upper() == "OK"
        detail = [f"HTTP {status}{': ' + message if message else ''}"]
        if status == 404:
            detail.append(
                f"Grafana has no backend health check for type {source.get('type')!r}: name a path of the "
                "datasource's own API to ask through Grafana's datasource proxy in verify_grafana_proxy_health"
            )
        rows.append(make_row("grafana", where, OK if healthy else FAIL, detail))
    return rows
