# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter of the post-install check's images row (docs in verify_images.yml)."""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.verify import images as vi
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import VerifyInputError
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


@filter_errors(VerifyInputError, TypeError, KeyError, AttributeError, ValueError)
def verify_images(pods, digests, unlocked=None, ignore=None):
    return vi.images_row(pods, digests, unlocked, ignore)


class FilterModule:
    """The images row of the post-install check."""

    def filters(self):
        return {"verify_images": verify_images}
