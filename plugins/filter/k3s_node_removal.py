# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter k3s_node_removal (docs in k3s_node_removal.yml): may this Node leave the cluster?

k3s labels every server of an embedded-etcd cluster ``node-role.kubernetes.io/etcd: "true"``
(k3s-io/k3s pkg/etcd/etcd.go, EtcdRoleLabel) and removes a server's etcd member when its Node
object is deleted: the managed-etcd-controller's OnRemove handler (pkg/etcd/member_controller.go,
``onRemove`` -> ``RemovePeer``) runs as a finalizer (wrangler pkg/generic/remove.go,
``wrangler.cattle.io/managed-etcd-controller``) on the servers that remain. etcd changes its
membership only with a quorum: playbooks/remove-node.yml stops k3s on the server first, so the
servers that stay must be Ready and a majority of the members the cluster has now.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

ETCD_LABEL = "node-role.kubernetes.io/etcd"


def _ready(node: dict) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions if isinstance(c, dict))


def node_removal(nodes, name) -> dict:
    """{node, found, server, members, ready_after, majority, problems}; see k3s_node_removal.yml."""
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        raise AnsibleFilterError("k3s_node_removal: expected the list of Node objects (k8s_info resources)")
    if not isinstance(name, str) or not name:
        raise AnsibleFilterError("k3s_node_removal: expected the name of the Node to remove")
    names = sorted(str((n.get("metadata") or {}).get("name")) for n in nodes)
    by_name = {str((n.get("metadata") or {}).get("name")): n for n in nodes}
    members = sorted(
        n for n, node in by_name.items() if ((node.get("metadata") or {}).get("labels") or {}).get(ETCD_LABEL) == "true"
    )
    result = {
        "node": name,
        "found": name in by_name,
        "server": name in members,
        "members": members,
        "ready_after": sorted(m for m in members if m != name and _ready(by_name[m])),
        "majority": len(members) // 2 + 1,
        "problems": [],
    }
    if not result["found"]:
        result["problems"].append(
            f"{name} is not a Node of the cluster (its Nodes: {', '.join(names) or 'none'}); the node name is "
            "k3s_node_name, default the inventory name. Nothing was changed."
        )
        return result
    if not result["server"]:
        return result
    if len(members) - 1 < 1:
        result["problems"].append(
            f"{name} is the cluster's only etcd member (server): without it there is no cluster. Nothing was changed. "
            "Add servers first, or remove the whole cluster with playbooks/reset.yml."
        )
        return result
    if len(result["ready_after"]) < result["majority"]:
        not_ready = sorted(m for m in members if m != name and not _ready(by_name[m]))
        result["problems"].append(
            f"removing the server {name} would break etcd's quorum: the cluster has {len(members)} etcd members "
            f"({', '.join(members)}); once {name} is stopped, the member removal needs a majority of them "
            f"({result['majority']}) Ready, and only {len(result['ready_after'])} others are"
            + (f" (not Ready: {', '.join(not_ready)})" if not_ready else "")
            + ". Nothing was changed. Bring the other servers back (or add servers) first."
        )
    return result


class FilterModule:
    """k3s node removal filter."""

    def filters(self):
        return {"k3s_node_removal": node_removal}
