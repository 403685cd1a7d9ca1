#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Documentation of the k8s_apply action (plugins/action/k8s_apply.py); it runs on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_apply
short_description: Apply a list of Kubernetes objects in one go and report each object
version_added: 0.1.0
description:
  - An action plugin, which runs C(kubernetes.core.k8s) twice for the whole list (one client, one API discovery)
    instead of once per object.
  - CustomResourceDefinitions are applied first and waited for until Established; then every other object,
    in the list's order.
  - Reports each object's change (C(objects)), each changed object's diff under its own header (shown with
    C(--diff)), and each object the API server refused with its answer (C(refused)); the task fails naming
    them. The applied objects are not returned.
  - Check mode is a server-side dry run, as in C(kubernetes.core.k8s).
options:
  kubeconfig:
    description: Path of the kubeconfig on the controller.
    type: path
    required: true
  objects:
    description: The objects, in apply order.
    type: list
    elements: dict
    required: true
  server_side_apply:
    description: Passed to C(kubernetes.core.k8s) as is (field manager, force conflicts); client-side apply when omitted.
    type: dict
  component:
    description: Named in messages.
    type: str
  crd_wait_timeout:
    description: Seconds to wait for each CustomResourceDefinition to be Established.
    type: int
    default: 120
extends_documentation_fragment:
  - gauntlet.platform.attributes
  - gauntlet.platform.attributes.with_diff
requirements:
  - kubernetes.core and the kubernetes Python client on the controller
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Apply the component's objects
  gauntlet.platform.k8s_apply:
    kubeconfig: "{{ gauntlet_kubeconfig }}"
    component: traefik
    objects: "{{ objects }}"
  delegate_to: localhost
"""

RETURN = r"""
objects:
  description: Each object applied, in order, with whether it changed and how (created, patched, apply).
  returned: always
  type: list
  elements: dict
  sample: [{"object": "ConfigMap/kube-system/coredns-custom", "changed": true, "method": "apply"}]
refused:
  description: Each object the API server refused, with its answer.
  returned: always
  type: list
  elements: dict
  sample: [{"object": "Cluster/db/pg", "msg": "Failed to apply object: ... failed calling webhook ..."}]
"""
