"""Make the checkout importable as ansible_collections.gauntlet.platform.

The repository root is the collection; collections/ansible_collections/gauntlet/platform
is a committed symlink to it, so putting collections/ on sys.path is enough.
"""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_DIR = REPO_ROOT / "collections"
UPSTREAM_DIR = REPO_ROOT.parent / "shared" / "upstream"

if str(COLLECTIONS_DIR) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_DIR))
