"""A real Prometheus scrapes the mesh; the shipped rules, config and dashboard queries hold up.

Needs the Debian `prometheus` package (`prometheus` and `promtool`, installed by `make sysdeps`);
the tests skip without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from common.mesh import free_port
from tests.helpers import scrape, two_colour_png, value
from vipro.v1 import common_pb2, editing_pb2, editing_pb2_grpc

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "vipro-dashboard.json"
DEADLINE_SECONDS = 30.0
CALLS = 4
CONVERT_OK = {"grpc_method": "ConvertImage", "grpc_code": "OK"}
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
NEEDS_PROMETHEUS = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus not installed (Debian package; `make sysdeps` as root)"
)
NEEDS_PROMTOOL = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian package prometheus; `make sysdeps` as root)",
)


def promtool(*args: str) -> subprocess.CompletedProcess:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


@NEEDS_PROMTOOL
def test_shipped_rules_and_config_pass_promtool():
    rules = promtool("check", "rules", str(PROMETHEUS_DIR / "alerts.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    # rule_files and file_sd paths resolve against the config's folder, not the working dir.
    config = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def handled(job: str, grpc_code: str, per_minute: int) -> dict:
    return {
        "series": (
            f'grpc_server_handled_total{{job="{job}",grpc_service="vipro.v1.EditingService",'
            f'grpc_type="unary",grpc_method="ConvertImage",grpc_code="{grpc_code}"}}'
        ),
        "values": f"0+{per_minute}x30",
    }


@NEEDS_PROMTOOL
def test_alert_rules_fire_on_server_faults_only(tmp_path):
    """promtool unit tests: server faults trip the error-ratio alert, client errors do not."""
    labels = {
        "grpc_service": "vipro.v1.EditingService",
        "grpc_method": "ConvertImage",
        "severity": "critical",
    }
    tests = {
        "rule_files": [str(PROMETHEUS_DIR / "alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    handled("vipro-gateway", "OK", 90),
                    handled("vipro-gateway", "UNAVAILABLE", 10),
                    handled("vipro-services", "OK", 50),
                    handled("vipro-services", "INVALID_ARGUMENT", 30),
                    handled("vipro-services", "RESOURCE_EXHAUSTED", 20),
                    {
                        "series": 'vipro_gateway_instance_ejected{job="vipro-gateway",'
                        'instance="gw:9400",upstream_instance="editing-a"}',
                        "values": "0 1x10",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "3m", "alertname": "ViproGrpcServerErrorRatioHigh"},
                    {
                        "eval_time": "15m",
                        "alertname": "ViproGrpcServerErrorRatioHigh",
                        "exp_alerts": [
                            {
                                "exp_labels": {"job": "vipro-gateway", **labels},
                                "exp_annotations": {
                                    "summary": "vipro.v1.EditingService/ConvertImage fails 10% "
                                    "of calls (vipro-gateway)",
                                    "description": "Over the last 5 minutes 10% of "
                                    "vipro.v1.EditingService/ConvertImage calls on vipro-gateway "
                                    "ended with a server-fault code (UNKNOWN, DEADLINE_EXCEEDED, "
                                    "UNIMPLEMENTED, INTERNAL, UNAVAILABLE or DATA_LOSS). Client "
                                    "errors are not counted. Check the process logs and "
                                    "vipro_gateway_upstream_calls_total by upstream_instance for "
                                    "a failing instance.",
                                },
                            }
                        ],
                    },
                    {"eval_time": "1m", "alertname": "ViproUpstreamInstanceEjected"},
                    {
                        "eval_time": "4m",
                        "alertname": "ViproUpstreamInstanceEjected",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "job": "vipro-gateway",
                                    "instance": "gw:9400",
                                    "upstream_instance": "editing-a",
                                    "severity": "warning",
                                },
                                "exp_annotations": {
                                    "summary": "Gateway has ejected service instance editing-a",
                                    "description": "The gateway at gw:9400 has kept editing-a "
                                    "ejected as an outlier (consecutive UNAVAILABLE answers) for "
                                    "2 minutes; it gets no traffic while ejected. See "
                                    "vipro_gateway_instance_ejections_total and the instance's "
                                    "log.",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


# A real Prometheus against the session mesh -------------------------------------------------------
def get_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:  # 4xx answers carry the error as JSON
        return json.loads(exc.read() or b"{}")


class Prometheus:
    """A prometheus process on a free loopback port with its TSDB in `folder`."""

    def __init__(self, config: dict, folder: Path):
        assert PROMETHEUS is not None
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = folder / "prometheus.log"
        config_file = folder / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        argv = [
            PROMETHEUS,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def query(self, expr: str) -> list[dict]:
        body = get_json(f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert body.get("status") == "success", f"{expr}: {body}"
        return body["data"]["result"]

    def scalar(self, expr: str) -> float:
        """The single value of an instant query; -1 while it has no result."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else -1.0

    def wait_for(self, what: str, check, deadline: float):
        """Poll `check()` until truthy; fail with Prometheus' log at `deadline`."""
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited ({self.proc.returncode}):\n{self.log.read_text()}")
            try:
                outcome = check()
            except (OSError, ValueError):  # not listening yet, or a reply cut short
                outcome = None
            if outcome:
                return outcome
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not seen in time; prometheus log:\n{self.log.read_text()}")
            time.sleep(0.2)


def expand(expr: str) -> str:
    """A dashboard query with its Grafana variables filled in."""
    variables = {"$job": "vipro-gateway", "$service": ".+", "$__rate_interval": "1m"}
    for name, replacement in variables.items():
        expr = expr.replace(name, replacement)
    return expr


@NEEDS_PROMETHEUS
def test_real_prometheus_scrapes_gateway_and_service(mesh, channel, tmp_path):
    editing = mesh.processes["editing"]
    shipped = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    gateway_job = next(j for j in shipped["scrape_configs"] if j["job_name"] == "vipro-gateway")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROMETHEUS_DIR / "alerts.yml")],
        "scrape_configs": [
            {
                "job_name": "vipro-gateway",
                "static_configs": [{"targets": [f"127.0.0.1:{mesh.metrics_port}"]}],
                # The shipped relabelling: the gateway's `instance` label -> upstream_instance.
                "metric_relabel_configs": gateway_job["metric_relabel_configs"],
            },
            {
                "job_name": "vipro-services",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{editing.metrics_port}"],
                        "labels": {"family": "editing"},
                    }
                ],
            },
        ],
    }
    stub = editing_pb2_grpc.EditingServiceStub(channel)
    request = editing_pb2.ConvertImageRequest(
        image=common_pb2.Image(inline=two_colour_png(40, 30)), width=20
    )
    # One call first, so the ConvertImage series exist before Prometheus' first scrape: rate()
    # only sees increases between samples Prometheus has stored.
    stub.ConvertImage(request, timeout=10)
    before = scrape(mesh.metrics_port)
    ok = 'grpc_method="ConvertImage",grpc_code="OK"'
    gateway_ok = f'sum(grpc_server_handled_total{{job="vipro-gateway",{ok}}})'
    deadline = time.monotonic() + DEADLINE_SECONDS
    prometheus = Prometheus(config, tmp_path)
    try:
        for job in ("vipro-gateway", "vipro-services"):
            prometheus.wait_for(
                f"up{{job={job!r}}} == 1",
                lambda job=job: prometheus.scalar(f'up{{job="{job}"}}') == 1,
                deadline,
            )
        baseline = value(before, "grpc_server_handled_total", **CONVERT_OK)
        prometheus.wait_for(
            "the warm-up call", lambda: prometheus.scalar(gateway_ok) >= baseline, deadline
        )

        for _ in range(CALLS):
            stub.ConvertImage(request, timeout=10)
        gateway_now = value(scrape(mesh.metrics_port), "grpc_server_handled_total", **CONVERT_OK)
        service_now = value(scrape(editing.metrics_port), "grpc_server_handled_total", **CONVERT_OK)
        assert gateway_now - baseline == CALLS

        for job, expected in (("vipro-gateway", gateway_now), ("vipro-services", service_now)):
            expr = f'sum(grpc_server_handled_total{{job="{job}",{ok}}})'
            prometheus.wait_for(
                f"{expr} >= {expected:.0f}",
                lambda expr=expr, expected=expected: prometheus.scalar(expr) >= expected,
                deadline,
            )
        for job in ("vipro-gateway", "vipro-services"):
            assert prometheus.scalar(f'up{{job="{job}"}}') == 1

        # The gateway's per-instance label arrives as upstream_instance, not exported_instance.
        upstream = prometheus.query(
            'vipro_gateway_upstream_calls_total{grpc_method="ConvertImage"}'
        )
        assert all("upstream_instance" in s["metric"] for s in upstream), upstream
        assert any(s["metric"]["upstream_instance"].startswith("editing-") for s in upstream)
        assert not any("exported_instance" in s["metric"] for s in upstream)

        # Every shipped alert rule evaluates without error on live data.
        def rules_evaluated():
            groups = get_json(f"{prometheus.base}/api/v1/rules")["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return rules if rules and all(r["health"] != "unknown" for r in rules) else None

        rules = prometheus.wait_for("alert rules evaluated", rules_evaluated, deadline)
        assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []

        # Every dashboard query parses and runs; the request-rate panel sees the calls.
        panels = json.loads(DASHBOARD.read_text())["panels"]
        exprs = {
            p["title"]: [expand(t["expr"]) for t in p.get("targets", [])]
            for p in panels
            if p["type"] != "row"
        }
        for expr in (e for panel_exprs in exprs.values() for e in panel_exprs):
            prometheus.query(expr)  # asserts status success
        (rate_expr,) = exprs["Request rate by service/method"]
        rates = {
            s["metric"]["grpc_method"]: float(s["value"][1]) for s in prometheus.query(rate_expr)
        }
        assert rates.get("ConvertImage", 0) > 0
    finally:
        prometheus.stop()
