"""Fixtures of the Gitea and Drone test doubles (tests/unit/plugins/service_doubles.py)."""

import sys
from pathlib import Path

import pytest

# Helper modules beside this file import by name under importlib mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from service_doubles import DroneDouble, GiteaDouble

ADMIN, ADMIN_PASSWORD = "root", "root-password-0123456789"


@pytest.fixture
def gitea():
    server = GiteaDouble(ADMIN, ADMIN_PASSWORD)
    yield server
    server.close()


@pytest.fixture
def drone(gitea):
    server = DroneDouble(gitea)
    yield server
    server.close()


@pytest.fixture
def gitea_params(gitea):
    """Connection options of the gitea_* modules for the double, as the site administrator."""

    def make(**options):
        return {"url": gitea.url, "username": ADMIN, "password": ADMIN_PASSWORD, "ca_path": None, "timeout": 10,
                **options}  # fmt: skip

    return make
