"""Gateway configuration: documented defaults, typed values, errors that name the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import REPO_ROOT, ConfigError, GatewayConfig


def load(tmp_path: Path, text: str) -> GatewayConfig:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return GatewayConfig.load(path)


def test_defaults_are_the_documented_ones(tmp_path):
    for config in (GatewayConfig.load(None), load(tmp_path, "")):
        assert (config.host, config.port, config.metrics_port) == ("127.0.0.1", 50051, 9400)
        assert config.state_dir == Path(".vipro/gateway")
        assert config.registry == "embedded" and config.balancer == "least_outstanding"
        assert config.api_keys_file is None and config.internal_token_file is None
        assert config.default_deadline_seconds == 60.0 and config.retry_attempts == 3
        assert config.max_concurrent_rpcs == 1000 and config.max_message_bytes == 32 << 20
        assert (config.ejection.consecutive_failures, config.ejection.base_seconds) == (3, 2.0)
        assert config.ejection.max_seconds == 60.0
        assert config.assets.max_asset_bytes == 2 << 30
        assert config.assets.max_tenant_bytes == 20 << 30
        assert (config.jobs.workers, config.jobs.retention_hours) == (4, 72.0)
        assert config.jobs.default_timeout_seconds == 3600
        assert config.capability_defaults == {}
        assert config.recipes_dir == REPO_ROOT / "deploy" / "recipes"


def test_the_documented_example_parses_to_typed_values(tmp_path):
    config = load(
        tmp_path,
        """
host: 127.0.0.1
port: 50051
metrics_port: 9400
state_dir: .vipro/gateway
registry: consul://127.0.0.1:8500
api_keys_file: .vipro/api_keys.yaml
default_deadline_seconds: 60
max_concurrent_rpcs: 1000
max_message_bytes: 33554432
retry_attempts: 3
balancer: round_robin
ejection: {consecutive_failures: 3, base_seconds: 2, max_seconds: 60}
assets: {max_asset_bytes: 2147483648, max_tenant_bytes: 21474836480}
jobs: {workers: 4, retention_hours: 72, default_timeout_seconds: 3600}
capability_defaults: {editing.ConvertImage: "1"}
recipes_dir: deploy/recipes
""",
    )
    assert config.api_keys_file == Path(".vipro/api_keys.yaml")
    assert config.recipes_dir == Path("deploy/recipes")
    # Whole numbers in YAML are ints; float fields hold floats.
    assert isinstance(config.default_deadline_seconds, float)
    assert isinstance(config.ejection.base_seconds, float)
    assert isinstance(config.jobs.retention_hours, float)
    assert config.balancer == "round_robin"
    assert config.capability_defaults == {"editing.ConvertImage": "1"}


def test_null_sections_and_ports_keep_their_meaning(tmp_path):
    config = load(tmp_path, "jobs:\nmetrics_port: null\napi_keys_file: null\n")
    assert config.jobs.workers == 4
    assert config.metrics_port is None and config.api_keys_file is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("jobs: {workers: four}", "jobs.workers: expected an integer, got 'four'"),
        ("port: '50051'", "port: expected an integer, got '50051'"),
        ("port: true", "port: expected an integer, got True"),
        ("ejection: {base_seconds: soon}", "ejection.base_seconds: expected a number, got 'soon'"),
        ("host: 127", "host: expected a string, got 127"),
        ("state_dir: [a, b]", "state_dir: expected a path (string), got ['a', 'b']"),
        ("jobs: 4", "jobs: expected a mapping of keys, got 4"),
        ("capability_defaults: [a]", "capability_defaults: expected a mapping, got ['a']"),
        (
            "capability_defaults: {editing.ConvertImage: 1}",
            "capability_defaults.editing.ConvertImage: expected a string, got 1",
        ),
        ("balancer: random", "balancer: expected one of 'least_outstanding', 'round_robin'"),
        ("- port", "the file: expected a mapping of keys, got ['port']"),
    ],
)
def test_a_wrong_type_names_the_key_path(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert message in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "gateway.yaml"))


def test_an_unknown_key_names_its_path_and_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"^.*gateway\.yaml: prot: unknown key \(known: .*port"):
        load(tmp_path, "prot: 1")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "jobs: {workers: 2, wokers: 4}")
    known = "(known: default_timeout_seconds, retention_hours, workers)"
    assert f"jobs.wokers: unknown key {known}" in str(info.value)
