# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Lookup: a Helm chart from the offline bundle, packed for a k3s HelmChart's chartContent."""

from __future__ import annotations

DOCUMENTATION = r"""
name: chart_content
short_description: A chart's source files in the offline bundle, packed as a byte-identical .tgz, base64-encoded
description:
  - Packs every file the bundle lock lists under C(<bundle_dir>/files/<folder>/) into a chart archive, the way
    C(helm dependency update) and C(helm package) lay it out, and returns it base64-encoded for the
    C(spec.chartContent) of a k3s C(helm.cattle.io/v1) HelmChart. No helm binary and no chart repository needed.
  - Each file is checked against its sha256 in C(bundle.lock.json) first; a missing or changed file fails with a
    message naming it.
  - O(dependencies) (local C(file://) subcharts such as Linkerd's C(partials)) are vendored as folders under
    C(charts/<name>/).
  - O(version) and O(app_version) replace the placeholders of the chart's C(Chart.yaml), as the upstream
    release does before packaging. Nothing else of the chart is changed.
  - The same inputs give the same bytes (sorted members, fixed times and owners, gzip without name or time), so a
    rerun renders and applies an identical object.
options:
  _terms:
    description: Bundle folders of the charts (holding C(Chart.yaml)), e.g. C(linkerd/edge-26.8.3/charts/linkerd-crds).
    required: true
  dependencies:
    description: Bundle folders of charts to vendor under C(charts/).
    type: list
    elements: str
    default: []
  version:
    description: Chart version written to C(Chart.yaml) (SemVer); empty keeps the file's.
    type: str
    default: ""
  app_version:
    description: C(appVersion) written to C(Chart.yaml); empty keeps the file's.
    type: str
    default: ""
extends_documentation_fragment:
  - gauntlet.platform.bundle_lookup
"""

EXAMPLES = r"""
- name: Pack the Linkerd CRDs chart
  ansible.builtin.set_fact:
    linkerd_crds_chart: >-
      {{ lookup('gauntlet.platform.chart_content', 'linkerd/edge-26.8.3/charts/linkerd-crds',
                bundle_dir=gauntlet_bundle_dir, dependencies=['linkerd/edge-26.8.3/charts/partials'],
                version='2026.8.3') }}
"""

RETURN = r"""
_list:
  description: The base64 of each chart's .tgz, in the order of the terms.
  type: list
  elements: str
"""

import base64

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.chart_archive import (
    ChartArchiveError,
    chart_archive,
)
from ansible_collections.gauntlet.platform.plugins.plugin_utils.bundle_base import base_dir


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        bundle_dir = self.get_option("bundle_dir")
        if not bundle_dir:
            raise AnsibleLookupError("chart_content: bundle_dir is empty; pass bundle_dir=gauntlet_bundle_dir")
        base = base_dir(self, variables, {"base_dir": self.get_option("base_dir")})
        results = []
        for folder in terms:
            try:
                archive = chart_archive(
                    bundle_dir,
                    folder,
                    dependencies=self.get_option("dependencies"),
                    version=self.get_option("version"),
                    app_version=self.get_option("app_version"),
                    base_dir=base,
                )
            except ChartArchiveError as exc:
                raise AnsibleLookupError(f"chart_content: {folder}: {exc}") from None
            results.append(base64.b64encode(archive).decode("ascii"))
        return results
