# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter of the post-install check's images row (docs in verify_images.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.verify import images as vi
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import VerifyInputError


def verify_images(pods, digests, unlocked=None, ignore=None):
    try:
        return vi.images_row(pods, digests, unlocked, ignore)
    except (VerifyInputError, TypeError, KeyError, AttributeError, ValueError) as exc:
        raise AnsibleFilterError(f"verify_images: {exc}") from exc


class FilterModule:
    """The images row of the post-install check."""

    def filters(self):
        return {"verify_images": verify_images}
