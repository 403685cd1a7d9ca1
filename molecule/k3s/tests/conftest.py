"""Let the scenario's test files import k3s_scenario (pytest runs in importlib mode here)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
