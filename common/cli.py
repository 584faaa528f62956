"""The `vipro` command: run a local mesh and call it.

    vipro up | down | status          the local mesh (state in $VIPRO_HOME, default .vipro)
    vipro caps [--family F]           the capability catalog
    vipro call editing.ConvertImage --json '{"width": 256}' --in image=photo.jpg --out out/
    vipro jobs submit|watch|get|cancel|list
    vipro produce general --material product=shoe.png --params '{"sizes": [...]}' --out out/

Request fields come from --json (protobuf JSON, field names as in the .proto); `--in
field.path=FILE` uploads FILE as an asset and sets that field (an Image/Video/Audio/Mask).
Outputs with inline bytes are written to --out and shown as file names.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import grpc
import typer
from google.protobuf import any_pb2, json_format, message_factory, symbol_database
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from common.client import AssetClient, connect
from common.contracts import find_method, method_for
from common.errors import ServiceError, decode_details
from common.inference import Inference
from common.mesh import FAMILIES, Mesh
from vipro.v1 import (
    gateway_pb2,
    gateway_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    production_pb2,
    production_pb2_grpc,
    registry_pb2,
)

app = typer.Typer(help="ViPro: visual production platform.", no_args_is_help=True)
jobs_app = typer.Typer(help="Asynchronous capability calls.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
console = Console()

Home = Annotated[Path, typer.Option(envvar="VIPRO_HOME", help="State folder of the local mesh.")]
Gateway = Annotated[str, typer.Option(envvar="VIPRO_GATEWAY", help="Gateway host:port.")]
ApiKey = Annotated[str, typer.Option(envvar="VIPRO_API_KEY", help="Tenant API key.")]
Inputs = Annotated[list[str], typer.Option("--in", help="field.path=FILE, uploaded as an asset.")]
JsonBody = Annotated[str, typer.Option("--json", help="Request fields as protobuf JSON.")]
OutDir = Annotated[Path, typer.Option("--out", help="Folder for binary outputs.")]


class Session:
    """Gateway address and key, from options or the local mesh's state."""

    def __init__(self, home: Path, gateway: str, api_key: str):
        mesh = Mesh(home) if (home / "mesh.json").exists() else None
        self.address = gateway or (mesh.gateway_address if mesh else "127.0.0.1:50051")
        key_file = home / "api_key"
        self.api_key = api_key or (key_file.read_text().strip() if key_file.exists() else "")
        self.channel = connect(self.address, self.api_key)
        self.assets = AssetClient(self.channel)


@contextmanager
def rpc_errors() -> Iterator[None]:
    """Print a failed call's status and details, then exit with status 1."""
    try:
        yield
    except grpc.RpcError as err:
        console.print(f"[red]{err.code().name}[/red]: {err.details()}")
        for detail in decode_details(err):
            console.print(f"  {type(detail).__name__}: {json_format.MessageToDict(detail)}")
        raise typer.Exit(1) from None


# Mesh ------------------------------------------------------------------------------------
@app.command()
def up(
    home: Home = Path(".vipro"),
    port: int = 50051,
    metrics_port: int = 9400,
    families: Annotated[list[str] | None, typer.Option(help="Families to start.")] = None,
    triton: Annotated[bool, typer.Option(help="Start Triton with the model repository.")] = True,
) -> None:
    """Start Triton, the gateway and the services on this machine."""
    mesh = Mesh(home, port, metrics_port)
    with console.status("starting the mesh"):
        mesh.up(tuple(families or FAMILIES), triton=triton)
    status(home)
    console.print(f"gateway [bold]{mesh.gateway_address}[/bold]; API key in {home / 'api_key'}")


@app.command()
def down(home: Home = Path(".vipro")) -> None:
    """Stop every process of the local mesh."""
    mesh = Mesh(home)
    mesh.down()
    console.print("mesh stopped")


@app.command()
def status(home: Home = Path(".vipro")) -> None:
    """Processes of the local mesh: pid, ports, alive, log."""
    table = Table("process", "pid", "port", "metrics", "state", "log")
    for info, alive in Mesh(home).status():
        state = "[green]running[/green]" if alive else "[red]dead[/red]"
        table.add_row(
            info.name, str(info.pid), str(info.port), str(info.metrics_port), state, info.log
        )
    console.print(table)


@app.command()
def caps(
    home: Home = Path(".vipro"), gateway: Gateway = "", api_key: ApiKey = "", family: str = ""
) -> None:
    """The capability catalog: versions, stages and instances."""
    session = Session(home, gateway, api_key)
    stub = gateway_pb2_grpc.GatewayServiceStub(session.channel)
    with rpc_errors():
        reply = stub.ListCapabilities(
            gateway_pb2.ListCapabilitiesRequest(family=family), timeout=10
        )
    table = Table("capability", "version", "stage", "instances", "default", "description")
    for entry in reply.capabilities:
        for v in entry.versions:
            stage = registry_pb2.Stage.Name(v.stage).removeprefix("STAGE_").lower()
            table.add_row(
                entry.name,
                v.version,
                stage,
                f"{v.healthy_instances}/{v.instances}",
                "*" if v.is_default else "",
                v.description,
            )
    console.print(table)


# Models ----------------------------------------------------------------------------------
models_app = typer.Typer(help="Models on the mesh's Triton server.", no_args_is_help=True)
app.add_typer(models_app, name="models")
TritonUrl = Annotated[str, typer.Option(envvar="VIPRO_TRITON", help="Triton gRPC host:port.")]


def _inference(home: Path, triton: str) -> Inference:
    address = triton or Mesh(home).triton_address
    if not address:
        raise typer.BadParameter("no Triton in this mesh: start one with `vipro up` or --triton")
    return Inference(address)


@models_app.command("list")
def models_list(home: Home = Path(".vipro"), triton: TritonUrl = "") -> None:
    """Models, versions and readiness, from Triton's repository index."""
    with service_errors():
        entries = _inference(home, triton).models()
    table = Table("model", "version", "state", "reason")
    for entry in entries:
        style = "green" if entry["state"] == "READY" else "yellow"
        table.add_row(
            entry["name"], entry["version"], f"[{style}]{entry['state']}[/{style}]", entry["reason"]
        )
    console.print(table)


@models_app.command("load")
def models_load(name: str, home: Home = Path(".vipro"), triton: TritonUrl = "") -> None:
    """Load (or reload) a model."""
    with service_errors():
        _inference(home, triton).load(name)
    console.print(f"{name} loaded")


@models_app.command("unload")
def models_unload(name: str, home: Home = Path(".vipro"), triton: TritonUrl = "") -> None:
    """Unload a model."""
    with service_errors():
        _inference(home, triton).unload(name)
    console.print(f"{name} unloaded")


@contextmanager
def service_errors() -> Iterator[None]:
    """Print a ServiceError's status and exit with status 1."""
    try:
        yield
    except ServiceError as err:
        console.print(f"[red]{err.code.name}[/red]: {err.message}")
        raise typer.Exit(1) from None


# Requests --------------------------------------------------------------------------------
def build_request(session: Session, method: str, body: str, inputs: list[str]):
    """A request message of `method` from JSON and --in uploads."""
    md = find_method(method)
    if md is None:
        raise typer.BadParameter(f"no contract defines {method}")
    data = json.loads(body) if body else {}
    for spec in inputs:
        path_text, _, file_name = spec.partition("=")
        info = session.assets.upload(Path(file_name))
        target = data
        *parents, last = path_text.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        reference = {"asset_id": info.asset_id, "media_type": info.media_type}
        field = _field_type(md.input_type, path_text)
        target[last] = {"image": reference} if field == "vipro.v1.Mask" else reference
    request = message_factory.GetMessageClass(md.input_type)()
    json_format.ParseDict(data, request)
    return request


def _field_type(descriptor, path: str) -> str:
    for name in path.split("."):
        field = descriptor.fields_by_name[name]
        descriptor = field.message_type
    return descriptor.full_name if descriptor else ""


def save_outputs(value, out: Path, session: Session, prefix: str = "out"):
    """Replace inline bytes (and asset ids) in a JSON-ready dict by files written to `out`."""
    if isinstance(value, dict):
        if "inline" in value and isinstance(value["inline"], str):
            out.mkdir(parents=True, exist_ok=True)
            suffix = _suffix(value.get("media_type", ""))
            path = out / f"{prefix}{suffix}"
            path.write_bytes(base64.b64decode(value["inline"]))
            return {**value, "inline": f"<{len(path.read_bytes())} bytes> -> {path}"}
        if "asset_id" in value and isinstance(value["asset_id"], str) and value["asset_id"]:
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"{prefix}{_suffix(value.get('media_type', ''))}"
            session.assets.download_to(value["asset_id"], path)
            return {**value, "saved_to": str(path)}
        return {k: save_outputs(v, out, session, f"{prefix}-{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [save_outputs(v, out, session, f"{prefix}-{i}") for i, v in enumerate(value)]
    return value


def _safe_name(name: str) -> str:
    """A file name from a server-chosen name: no folders, no dot-files."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    return cleaned or "output"


def _suffix(media_type: str) -> str:
    return {
        "image/png": ".png",
        "image/jpeg": ".jpg",
        "image/webp": ".webp",
        "video/mp4": ".mp4",
    }.get(media_type, ".bin")


@app.command()
def call(
    capability: str,
    body: JsonBody = "",
    inputs: Inputs = [],  # noqa: B006 - typer reads the default, never mutates it
    out: OutDir = Path("vipro-out"),
    version: str = "",
    stage: str = "",
    timeout: float = 300.0,
    home: Home = Path(".vipro"),
    gateway: Gateway = "",
    api_key: ApiKey = "",
) -> None:
    """Call a capability once, e.g. `vipro call editing.ConvertImage --in image=a.png`."""
    session = Session(home, gateway, api_key)
    method = method_for(capability)
    request = build_request(session, method, body, inputs)
    md = find_method(method)
    response_cls = message_factory.GetMessageClass(md.output_type)
    stub = session.channel.unary_unary(
        method,
        request_serializer=type(request).SerializeToString,
        response_deserializer=response_cls.FromString,
    )
    metadata = tuple((k, v) for k, v in (("vipro-version", version), ("vipro-stage", stage)) if v)
    with rpc_errors():
        reply = stub(request, timeout=timeout, metadata=metadata)
    shown = save_outputs(
        json_format.MessageToDict(reply, preserving_proto_field_name=True), out, session
    )
    console.print_json(data=shown)


# Jobs ------------------------------------------------------------------------------------
def _jobs(session: Session) -> jobs_pb2_grpc.JobServiceStub:
    return jobs_pb2_grpc.JobServiceStub(session.channel)


def _state(job: jobs_pb2.Job) -> str:
    return jobs_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()


def _watch(session: Session, job_id: str) -> jobs_pb2.Job:
    last = None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(job_id[:12], total=1.0)
        for update in _jobs(session).WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id)):
            last = update.job
            label = f"{job_id[:12]} {_state(last)} {last.progress.stage}"
            bar.update(task, completed=last.progress.fraction, description=label)
    return last


@jobs_app.command("submit")
def jobs_submit(
    capability: str,
    body: JsonBody = "",
    inputs: Inputs = [],  # noqa: B006
    watch: bool = False,
    out: OutDir = Path("vipro-out"),
    home: Home = Path(".vipro"),
    gateway: Gateway = "",
    api_key: ApiKey = "",
) -> None:
    """Submit a capability call as a job; --watch follows it to the end."""
    session = Session(home, gateway, api_key)
    method = method_for(capability)
    packed = any_pb2.Any()
    packed.Pack(build_request(session, method, body, inputs))
    with rpc_errors():
        job = (
            _jobs(session)
            .SubmitJob(jobs_pb2.SubmitJobRequest(method=method, request=packed), timeout=30)
            .job
        )
    console.print(f"job [bold]{job.job_id}[/bold] {_state(job)}")
    if watch:
        _show_job(session, _watch(session, job.job_id), out)


def _show_job(session: Session, job: jobs_pb2.Job, out: Path) -> None:
    console.print(f"job {job.job_id}: [bold]{_state(job)}[/bold] after {job.attempts} attempt(s)")
    if job.HasField("error"):
        console.print(
            f"[red]{grpc.StatusCode(_code(job.error.code)).name}[/red] {job.error.message}"
        )
    if job.HasField("result"):
        cls = symbol_database.Default().GetSymbol(job.result.TypeName())
        reply = cls()
        job.result.Unpack(reply)
        data = json_format.MessageToDict(reply, preserving_proto_field_name=True)
        console.print_json(data=save_outputs(data, out, session, job.job_id[:12]))


def _code(number: int):
    return next(c for c in grpc.StatusCode if c.value[0] == number)


@jobs_app.command("watch")
def jobs_watch(
    job_id: str,
    out: OutDir = Path("vipro-out"),
    home: Home = Path(".vipro"),
    gateway: Gateway = "",
    api_key: ApiKey = "",
) -> None:
    """Follow a job with a progress bar until it ends."""
    session = Session(home, gateway, api_key)
    with rpc_errors():
        _show_job(session, _watch(session, job_id), out)


@jobs_app.command("get")
def jobs_get(
    job_id: str,
    out: OutDir = Path("vipro-out"),
    home: Home = Path(".vipro"),
    gateway: Gateway = "",
    api_key: ApiKey = "",
) -> None:
    """Show a job and its result."""
    session = Session(home, gateway, api_key)
    with rpc_errors():
        _show_job(session, _jobs(session).GetJob(jobs_pb2.GetJobRequest(job_id=job_id)).job, out)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: str, home: Home = Path(".vipro"), gateway: Gateway = "", api_key: ApiKey = ""
) -> None:
    """Cancel a queued or running job."""
    session = Session(home, gateway, api_key)
    with rpc_errors():
        job = _jobs(session).CancelJob(jobs_pb2.CancelJobRequest(job_id=job_id)).job
    console.print(f"job {job.job_id}: {_state(job)}")


@jobs_app.command("list")
def jobs_list(
    state: str = "",
    home: Home = Path(".vipro"),
    gateway: Gateway = "",
    api_key: ApiKey = "",
) -> None:
    """The tenant's jobs, newest first."""
    session = Session(home, gateway, api_key)
    wanted = jobs_pb2.JobState.Value(f"JOB_STATE_{state.upper()}") if state else 0
    with rpc_errors():
        reply = _jobs(session).ListJobs(jobs_pb2.ListJobsRequest(state=wanted))
    table = Table("job", "method", "state", "progress", "attempts", "created")
    for job in reply.jobs:
        table.add_row(
            job.job_id,
            job.method,
            _state(job),
            f"{job.progress.fraction:.0%}",
            str(job.attempts),
            job.create_time.ToDatetime().isoformat(timespec="seconds"),
        )
    console.print(table)


# Productions -----------------------------------------------------------------------------
@app.command()
def produce(
    production_type: str,
    materials: Annotated[
        list[str], typer.Option("--material", help="name=FILE or name=FILE:role")
    ] = [],  # noqa: B006
    params: Annotated[str, typer.Option(help="Recipe parameters as JSON.")] = "",
    recipe: str = "",
    out: OutDir = Path("vipro-out"),
    timeout: float = 600.0,
    home: Home = Path(".vipro"),
    gateway: Gateway = "",
    api_key: ApiKey = "",
) -> None:
    """Run a production: `vipro produce general --material shoe=shoe.png`."""
    session = Session(home, gateway, api_key)
    request = production_pb2.ProduceRequest(
        type=production_pb2.ProductionType.Value(f"PRODUCTION_TYPE_{production_type.upper()}"),
        recipe=recipe,
    )
    if params:
        request.params.update(json.loads(params))
    for spec in materials:
        name, _, rest = spec.partition("=")
        file_name, _, role = rest.partition(":")
        info = session.assets.upload(Path(file_name))
        material = request.materials.add(name=name, role=role or name)
        if info.media_type.startswith("video/") or file_name.endswith((".mp4", ".mov", ".mkv")):
            material.video.asset_id = info.asset_id
        else:
            material.image.asset_id = info.asset_id
    stub = production_pb2_grpc.ProductionServiceStub(session.channel)
    t0 = time.perf_counter()
    with rpc_errors():
        reply = stub.Produce(request, timeout=timeout)
    out.mkdir(parents=True, exist_ok=True)
    for material in reply.materials:
        if material.WhichOneof("content") == "image":
            image = material.image
            path = out / f"{_safe_name(material.name)}{_suffix(image.media_type)}"
            if image.WhichOneof("source") == "inline":
                path.write_bytes(image.inline)
            else:
                session.assets.download_to(image.asset_id, path)
            console.print(f"{material.name}: {path}")
    case = reply.case
    console.print(
        f"case {case.case_id}: recipe {case.recipe}, {len(case.steps)} calls, "
        f"{(time.perf_counter() - t0) * 1000:.0f} ms"
    )
