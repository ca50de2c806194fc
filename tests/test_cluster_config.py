"""cluster.yaml: valid for Ray's own cluster launcher, closed to the world but SSH,
token auth on, and installing exactly the driver's Python, Ray and flowray versions."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "cluster.yaml").read_text())


def _commands(*keys: str) -> list[str]:
    return [cmd for key in keys for cmd in CONFIG.get(key, [])]


def test_valid_against_rays_launcher_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(CONFIG)
    prepared = prepare_config(CONFIG)  # merged with Ray's AWS defaults, as `ray up` does
    validate_config(prepared)
    assert prepared["provider"]["type"] == "aws"


def test_schema_rejects_a_broken_config():
    """The validation above is real: the same schema refuses an unknown top-level key."""
    import jsonschema
    from ray.autoscaler._private.util import validate_config

    broken = dict(CONFIG, max_wokers=3)
    with pytest.raises(jsonschema.ValidationError):
        validate_config(broken)


def test_head_and_autoscaling_workers():
    types = CONFIG["available_node_types"]
    assert CONFIG["head_node_type"] in types
    workers = [t for name, t in types.items() if name != CONFIG["head_node_type"]]
    assert workers
    for node_type in workers:
        assert 0 <= node_type["min_workers"] < node_type["max_workers"]
    assert CONFIG["max_workers"] >= max(t["max_workers"] for t in workers)
    assert CONFIG["idle_timeout_minutes"] > 0


def test_only_ssh_is_open_to_the_world():
    group = CONFIG["provider"]["security_group"]
    for rule in group.get("IpPermissions", []):
        world = [r for r in rule.get("IpRanges", []) if r.get("CidrIp") == "0.0.0.0/0"]
        world += [r for r in rule.get("Ipv6Ranges", []) if r.get("CidrIpv6") == "::/0"]
        if world:
            assert (rule.get("FromPort"), rule.get("ToPort")) == (22, 22), rule
    starts = " ".join(_commands("head_start_ray_commands", "worker_start_ray_commands"))
    assert "--dashboard-host=127.0.0.1" in starts
    assert "0.0.0.0" not in starts


def test_token_auth_on_every_node():
    for cmd in _commands("head_start_ray_commands", "worker_start_ray_commands"):
        if "ray start" in cmd:
            assert "RAY_AUTH_MODE=token" in cmd, cmd
    assert CONFIG["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


def test_installs_the_drivers_versions():
    setup = " ".join(_commands("setup_commands"))
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"flowray-{version}-py3-none-any.whl" in setup
    assert f'"ray[default]=={importlib.metadata.version("ray")}"' in setup
    assert f"--python {sys.version_info.major}.{sys.version_info.minor}" in setup
    assert "-r ~/flowray-dist/requirements.txt" in setup  # the driver's locked dependencies
    starts = _commands("head_start_ray_commands", "worker_start_ray_commands")
    assert all(re.search(r"~/flowray-venv/bin/ray (start|stop)", c) for c in starts)
