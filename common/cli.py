"""The `vipro` command: run a local mesh and call it.

    vipro up | down | status          the local mesh on this machine
    vipro caps [--family F]           the capability catalog
    vipro call editing.ConvertImage --json '{"width": 256}' --in image=photo.jpg --out out/
    vipro jobs submit|watch|get|cancel|list
    vipro produce general --material product=shoe.png --text headline='Summer Sale' --out out/
    vipro models list|load|unload     models on the mesh's Triton

Which mesh: the state folder is $VIPRO_HOME, else the nearest ``.vipro`` in the working
directory or a parent, else ``~/.vipro`` (`common.mesh.find_home`); it holds the gateway's
address and the local tenant's API key. VIPRO_GATEWAY and VIPRO_API_KEY (or --gateway,
--api-key) point the CLI at any gateway instead.

Request fields come from --json (protobuf JSON, field names as in the .proto); `--in
field.path=FILE` uploads FILE as an asset and sets that field (an Image/Video/Audio/Mask).
Media in replies are written to --out as ``<input name>.<response field><extension>``, the
extension taken from the content; existing files are never replaced.

Errors print one line (status, message, field violations) and exit 1; ``--debug`` anywhere on
the command line (or VIPRO_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import base64
import difflib
import json
import os
import re
import socket
import sys
import time
from pathlib import Path
from typing import Annotated

import grpc
import typer
from google.protobuf import any_pb2, json_format, message_factory, symbol_database
from google.protobuf.descriptor import Descriptor
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from common.client import AssetClient, connect
from common.contracts import find_method, find_service, method_for
from common.errors import ServiceError, decode_details
from common.inference import Inference
from common.mesh import (
    DEFAULT_GATEWAY_PORT,
    FAMILIES,
    STATE_FOLDER,
    Mesh,
    StartError,
    find_home,
    user_home,
)
from common.outputs import OutputFolder, sniff_file
from vipro.v1 import (
    gateway_pb2,
    gateway_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    production_pb2,
    production_pb2_grpc,
    registry_pb2,
)

app = typer.Typer(
    help="ViPro: visual production platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # `main` prints one line per error
)
jobs_app = typer.Typer(help="Asynchronous capability calls.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
models_app = typer.Typer(help="Models on the mesh's Triton server.", no_args_is_help=True)
app.add_typer(models_app, name="models")
console = Console()
errors = Console(stderr=True, highlight=False, soft_wrap=True)

Home = Annotated[
    Path | None,
    typer.Option(
        help="State folder of the mesh [default: $VIPRO_HOME, ./.vipro or a parent's, ~/.vipro]."
    ),
]
Gateway = Annotated[str, typer.Option(envvar="VIPRO_GATEWAY", help="Gateway host:port.")]
ApiKey = Annotated[str, typer.Option(envvar="VIPRO_API_KEY", help="Tenant API key.")]
Inputs = Annotated[list[str], typer.Option("--in", help="field.path=FILE, uploaded as an asset.")]
JsonBody = Annotated[str, typer.Option("--json", help="Request fields as protobuf JSON.")]
OutDir = Annotated[Path, typer.Option("--out", help="Folder for media in the reply.")]
TritonUrl = Annotated[str, typer.Option(envvar="VIPRO_TRITON", help="Triton gRPC host:port.")]
MEDIA_TYPES = ("vipro.v1.Image", "vipro.v1.Video", "vipro.v1.Audio", "vipro.v1.Mask")


class CliError(Exception):
    """A mistake or missing piece the user can fix; printed as one line."""


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """ViPro: visual production platform."""
    # `main` takes --debug out of the arguments wherever it stands; it is declared here so
    # that --help lists it.


def _home(home: Path | None) -> Path:
    return home or find_home()


def _where_looked() -> str:
    if os.environ.get("VIPRO_HOME"):
        return f"VIPRO_HOME={os.environ['VIPRO_HOME']}"
    return f"{STATE_FOLDER} in {Path.cwd()} and its parents, then {user_home()}"


class Session:
    """The gateway and API key a command talks to, from options, environment or the mesh's
    state folder. Use as a context manager: a gateway that does not answer becomes one
    `CliError` naming its address.

    Raises:
        CliError: no API key anywhere.
    """

    def __init__(self, home: Path | None, gateway: str, api_key: str):
        folder = _home(home)
        mesh = Mesh(folder) if (folder / "mesh.json").exists() else None
        self.address = gateway or (
            mesh.gateway_address if mesh else f"127.0.0.1:{DEFAULT_GATEWAY_PORT}"
        )
        key_file = folder / "api_key"
        if api_key:
            self.key_source = "--api-key / VIPRO_API_KEY"
        elif key_file.exists():
            api_key, self.key_source = key_file.read_text().strip(), str(key_file)
        else:
            looked = f"looked in {folder}" if home else f"looked for {_where_looked()}"
            raise CliError(
                f"no API key: VIPRO_API_KEY is not set and no mesh state was found ({looked}); "
                "start a mesh here with `vipro up`, set VIPRO_HOME to a mesh's state folder, "
                "or set VIPRO_GATEWAY and VIPRO_API_KEY for a remote gateway"
            )
        self.channel = connect(self.address, api_key)
        self.assets = AssetClient(self.channel)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind, error, tb) -> None:
        self.channel.close()
        if not isinstance(error, grpc.RpcError):
            return
        code = error.code()
        if code == grpc.StatusCode.UNAVAILABLE and not _reachable(self.address):
            raise CliError(
                f"no gateway answers at {self.address}: is the mesh running? `vipro status` "
                "shows it and `vipro up` starts it; VIPRO_GATEWAY names another gateway"
            ) from error
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise CliError(
                f"UNAUTHENTICATED: {error.details()} (key from {self.key_source}, gateway "
                f"{self.address})"
            ) from error


def _reachable(address: str) -> bool:
    """Whether a TCP connection to host:port opens."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


# Mesh ------------------------------------------------------------------------------------
@app.command()
def up(
    home: Home = None,
    port: int = DEFAULT_GATEWAY_PORT,
    metrics_port: int = 9400,
    families: Annotated[list[str] | None, typer.Option(help="Families to start.")] = None,
    triton: Annotated[bool, typer.Option(help="Start Triton with the model repository.")] = True,
    triton_bind: Annotated[
        str, typer.Option(help="Address Triton listens on (its model API has no auth).")
    ] = "127.0.0.1",
) -> None:
    """Start what is not running of Triton, the gateway and the services on this machine
    (after a crash, Triton comes back on its ports and the services follow it)."""
    folder = _home(home)
    mesh = Mesh(folder, port, metrics_port)
    with console.status(f"starting the mesh in {folder}"):
        mesh.up(tuple(families or FAMILIES), triton=triton, triton_bind=triton_bind)
    status(folder)
    console.print(f"gateway [bold]{mesh.gateway_address}[/bold]; API key in {folder / 'api_key'}")


@app.command()
def down(home: Home = None) -> None:
    """Stop every process of the local mesh."""
    folder = _home(home)
    Mesh(folder).down()
    console.print(f"mesh in {folder} stopped")


@app.command()
def status(home: Home = None) -> None:
    """Processes of the local mesh: pid, ports, alive, log."""
    folder = _home(home)
    processes = Mesh(folder).status()
    if not processes:
        console.print(f"no mesh running from {folder}; `vipro up` starts one")
        return
    table = Table("process", "pid", "port", "metrics", "state")
    table.add_column("log", overflow="fold")
    for info, alive in processes:
        state = "[green]running[/green]" if alive else "[red]dead[/red]"
        table.add_row(
            info.name, str(info.pid), str(info.port), str(info.metrics_port), state, info.log
        )
    console.print(table)


@app.command()
def caps(home: Home = None, gateway: Gateway = "", api_key: ApiKey = "", family: str = "") -> None:
    """The capability catalog: versions, stages and instances."""
    with Session(home, gateway, api_key) as session:
        stub = gateway_pb2_grpc.GatewayServiceStub(session.channel)
        reply = stub.ListCapabilities(
            gateway_pb2.ListCapabilitiesRequest(family=family), timeout=10
        )
    names = [entry.name for entry in reply.capabilities] or ["capability"]
    table = Table(expand=False, caption="* the version callers get by default")
    # Names are what users copy: never cut; the description wraps, or goes when there is no room.
    table.add_column("capability", no_wrap=True, min_width=max(map(len, names)))
    for column in ("version", "stage", "instances"):
        table.add_column(column, no_wrap=True)
    fixed = max(map(len, names)) + 42  # version, "experimental", instances and the rules
    show_description = console.width - fixed >= 20
    if show_description:
        table.add_column("description", ratio=1)
    for entry in reply.capabilities:
        for v in entry.versions:
            stage = registry_pb2.Stage.Name(v.stage).removeprefix("STAGE_").lower()
            row = [
                entry.name,
                v.version + ("*" if v.is_default else ""),
                stage,
                f"{v.healthy_instances}/{v.instances}",
            ]
            table.add_row(*row, *([v.description] if show_description else []))
    console.print(table)


# Models ----------------------------------------------------------------------------------
def _inference(home: Path | None, triton: str) -> Inference:
    address = triton or Mesh(_home(home)).triton_address
    if not address:
        raise CliError(
            f"no Triton in the mesh at {_home(home)}: start one with `vipro up`, or give --triton"
        )
    return Inference(address)


@models_app.command("list")
def models_list(home: Home = None, triton: TritonUrl = "") -> None:
    """Models, versions and readiness, from Triton's repository index."""
    entries = _inference(home, triton).models()
    table = Table("model", "version", "state", "reason")
    for entry in entries:
        style = "green" if entry["state"] == "READY" else "yellow"
        table.add_row(
            entry["name"], entry["version"], f"[{style}]{entry['state']}[/{style}]", entry["reason"]
        )
    console.print(table)


@models_app.command("load")
def models_load(name: str, home: Home = None, triton: TritonUrl = "") -> None:
    """Load (or reload) a model."""
    _inference(home, triton).load(name)
    console.print(f"{name} loaded")


@models_app.command("unload")
def models_unload(name: str, home: Home = None, triton: TritonUrl = "") -> None:
    """Unload a model."""
    _inference(home, triton).unload(name)
    console.print(f"{name} unloaded")


# Requests --------------------------------------------------------------------------------
def _method(capability: str):
    """The contract of `capability` ("family.Rpc" or "/pkg.Service/Rpc").

    Raises:
        CliError: no contract defines it (close names are suggested).
    """
    try:
        md = find_method(method_for(capability))
    except ValueError as err:
        raise CliError(str(err)) from None
    if md is None:
        known = []
        for family in FAMILIES:
            service = find_service(f"vipro.v1.{family.capitalize()}Service")
            known += [f"{family}.{name}" for name in service.methods_by_name]
        close = difflib.get_close_matches(capability, known, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "`vipro caps` lists them"
        raise CliError(f"no contract defines {capability}; {hint}")
    return md


def _check_fields(descriptor: Descriptor, data: object, where: str) -> None:
    """Raise CliError naming the first key of `data` that `descriptor` has no field for."""
    if not isinstance(data, dict) or descriptor.full_name.startswith("google.protobuf."):
        return
    for key, value in data.items():
        field = descriptor.fields_by_name.get(key) or next(
            (f for f in descriptor.fields if f.json_name == key), None
        )
        if field is None:
            valid = ", ".join(f.name for f in descriptor.fields)
            raise CliError(
                f'--json: {where or descriptor.name} has no field "{key}"; its fields: {valid}'
            )
        if field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        path = f"{where}.{key}" if where else key
        items = value if field.is_repeated else [value]
        for item in items if isinstance(items, list) else []:
            _check_fields(field.message_type, item, path)


def _field_type(descriptor: Descriptor, path: str) -> str:
    """Full message name of the field at dotted `path`.

    Raises:
        CliError: no such field.
    """
    for name in path.split("."):
        field = descriptor.fields_by_name.get(name)
        if field is None:
            takes_file = [
                f.name
                for f in descriptor.fields
                if f.message_type and f.message_type.full_name in MEDIA_TYPES
            ]
            raise CliError(
                f"--in {path}=...: {descriptor.name} has no field {name!r}; fields that take a "
                f"file: {', '.join(takes_file) or 'none'}"
            )
        descriptor = field.message_type
    return descriptor.full_name if descriptor else ""


def build_request(session: Session, method_descriptor, body: str, inputs: list[str]):
    """A request message from --json and --in uploads.

    Raises:
        CliError: invalid JSON, an unknown field, a missing file.
    """
    request_type = method_descriptor.input_type
    try:
        data = json.loads(body) if body else {}
    except json.JSONDecodeError as err:
        raise CliError(f"--json is not valid JSON: {err}") from None
    _check_fields(request_type, data, "")
    for spec in inputs:
        path_text, _, file_name = spec.partition("=")
        if not file_name:
            raise CliError(f"--in {spec}: expected field.path=FILE")
        kind = _field_type(request_type, path_text)
        if kind not in MEDIA_TYPES:
            raise CliError(f"--in {spec}: {path_text} is a {kind or 'scalar'}, not a media field")
        file = Path(file_name)
        if not file.is_file():
            raise CliError(f"--in {spec}: no such file {file}")
        info = session.assets.upload(file, media_type=sniff_file(file)[0])
        target = data
        *parents, last = path_text.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        reference = {"asset_id": info.asset_id, "media_type": info.media_type}
        target[last] = {"image": reference} if kind == "vipro.v1.Mask" else reference
    request = message_factory.GetMessageClass(request_type)()
    try:
        json_format.ParseDict(data, request)
    except json_format.ParseError as err:
        raise CliError(f"--json: {str(err).splitlines()[0]}") from None
    return request


def _input_stem(inputs: list[str]) -> str:
    """Name outputs after the first input file ("photo" for image=photo.jpg)."""
    return Path(inputs[0].partition("=")[2]).stem if inputs else ""


def save_outputs(value, folder: OutputFolder, session: Session, stem: str, path: str = ""):
    """Write the media in a JSON-ready reply to `folder`; returns the reply with each medium's
    bytes replaced by ``saved_to``. Files are named ``<stem>.<field path><ext>``."""
    if isinstance(value, dict):
        name = ".".join(p for p in (stem, path) if p) or "output"
        if isinstance(value.get("inline"), str):
            written = folder.write_bytes(_safe_name(name), base64.b64decode(value["inline"]))
            return {**{k: v for k, v in value.items() if k != "inline"}, "saved_to": str(written)}
        if isinstance(value.get("asset_id"), str) and value["asset_id"]:
            written = folder.write_with(
                _safe_name(name), lambda p: session.assets.download_to(value["asset_id"], p)
            )
            return {**value, "saved_to": str(written)}
        return {
            k: save_outputs(v, folder, session, stem, f"{path}.{k}" if path else k)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [save_outputs(v, folder, session, stem, f"{path}.{i}") for i, v in enumerate(value)]
    return value


def _safe_name(name: str) -> str:
    """A file name from a server-chosen name: no folders, no dot-files."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    return cleaned or "output"


def _show_reply(reply, out: Path, session: Session, stem: str) -> None:
    folder = OutputFolder(out)
    data = json_format.MessageToDict(reply, preserving_proto_field_name=True)
    console.print_json(data=save_outputs(data, folder, session, stem))
    for path in folder.written:
        errors.print(f"wrote {path}")


@app.command()
def call(
    capability: str,
    body: JsonBody = "",
    inputs: Inputs = [],  # noqa: B006 - typer reads the default, never mutates it
    out: OutDir = Path("vipro-out"),
    version: str = "",
    stage: str = "",
    timeout: float = 300.0,
    home: Home = None,
    gateway: Gateway = "",
    api_key: ApiKey = "",
) -> None:
    """Call a capability once, e.g. `vipro call editing.ConvertImage --in image=a.png`."""
    md = _method(capability)
    with Session(home, gateway, api_key) as session:
        request = build_request(session, md, body, inputs)
        stub = session.channel.unary_unary(
            method_for(capability),
            request_serializer=type(request).SerializeToString,
            response_deserializer=message_factory.GetMessageClass(md.output_type).FromString,
        )
        metadata = tuple(
            (k, v) for k, v in (("vipro-version", version), ("vipro-stage", stage)) if v
        )
        reply = stub(request, timeout=timeout, metadata=metadata)
        _show_reply(reply, out, session, _input_stem(inputs) or md.name)


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
    home: Home = None,
    gateway: Gateway = "",
    api_key: ApiKey = "",
) -> None:
    """Submit a capability call as a job; --watch follows it to the end."""
    md = _method(capability)
    with Session(home, gateway, api_key) as session:
        packed = any_pb2.Any()
        packed.Pack(build_request(session, md, body, inputs))
        job = (
            _jobs(session)
            .SubmitJob(
                jobs_pb2.SubmitJobRequest(method=method_for(capability), request=packed),
                timeout=30,
            )
            .job
        )
        console.print(f"job [bold]{job.job_id}[/bold] {_state(job)}")
        if watch:
            _show_job(session, _watch(session, job.job_id), out, _input_stem(inputs))


def _show_job(session: Session, job: jobs_pb2.Job, out: Path, stem: str = "") -> None:
    console.print(f"job {job.job_id}: [bold]{_state(job)}[/bold] after {job.attempts} attempt(s)")
    if job.HasField("error"):
        code = next(c for c in grpc.StatusCode if c.value[0] == job.error.code)
        console.print(f"[red]{code.name}[/red] {job.error.message}")
    if job.HasField("result"):
        reply = symbol_database.Default().GetSymbol(job.result.TypeName())()
        job.result.Unpack(reply)
        _show_reply(reply, out, session, stem or f"job-{job.job_id[:12]}")


@jobs_app.command("watch")
def jobs_watch(
    job_id: str,
    out: OutDir = Path("vipro-out"),
    home: Home = None,
    gateway: Gateway = "",
    api_key: ApiKey = "",
) -> None:
    """Follow a job with a progress bar until it ends."""
    with Session(home, gateway, api_key) as session:
        _show_job(session, _watch(session, job_id), out)


@jobs_app.command("get")
def jobs_get(
    job_id: str,
    out: OutDir = Path("vipro-out"),
    home: Home = None,
    gateway: Gateway = "",
    api_key: ApiKey = "",
) -> None:
    """Show a job and its result."""
    with Session(home, gateway, api_key) as session:
        job = _jobs(session).GetJob(jobs_pb2.GetJobRequest(job_id=job_id)).job
        _show_job(session, job, out)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: str, home: Home = None, gateway: Gateway = "", api_key: ApiKey = ""
) -> None:
    """Cancel a queued or running job."""
    with Session(home, gateway, api_key) as session:
        job = _jobs(session).CancelJob(jobs_pb2.CancelJobRequest(job_id=job_id)).job
    console.print(f"job {job.job_id}: {_state(job)}")


@jobs_app.command("list")
def jobs_list(
    state: str = "",
    home: Home = None,
    gateway: Gateway = "",
    api_key: ApiKey = "",
) -> None:
    """The tenant's jobs, newest first."""
    wanted = _enum(jobs_pb2.JobState, "JOB_STATE_", state, "--state") if state else 0
    with Session(home, gateway, api_key) as session:
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


def _enum(enum, prefix: str, name: str, option: str) -> int:
    """The value of `prefix + name.upper()` in a protobuf enum.

    Raises:
        CliError: no such value (the valid names are listed).
    """
    try:
        return enum.Value(f"{prefix}{name.upper()}")
    except ValueError:
        valid = [
            n.removeprefix(prefix).lower()
            for n in enum.DESCRIPTOR.values_by_name
            if not n.endswith("UNSPECIFIED")
        ]
        raise CliError(f"{option} {name!r} is not one of: {', '.join(valid)}") from None


# Productions -----------------------------------------------------------------------------
@app.command()
def produce(
    production_type: str,
    materials: Annotated[
        list[str], typer.Option("--material", help="name=FILE or name=FILE:role")
    ] = [],  # noqa: B006
    texts: Annotated[
        list[str], typer.Option("--text", help="role=TEXT, e.g. headline='Summer Sale'")
    ] = [],  # noqa: B006
    params: Annotated[str, typer.Option(help="Recipe parameters as JSON.")] = "",
    recipe: str = "",
    out: OutDir = Path("vipro-out"),
    timeout: float = 600.0,
    home: Home = None,
    gateway: Gateway = "",
    api_key: ApiKey = "",
) -> None:
    """Run a production: `vipro produce general --material product=shoe.png --text
    headline='Summer Sale'` (a material's role is its name unless FILE:role says)."""
    kind = _enum(production_pb2.ProductionType, "PRODUCTION_TYPE_", production_type, "type")
    request = production_pb2.ProduceRequest(type=kind, recipe=recipe)
    try:
        request.params.update(json.loads(params) if params else {})
    except (json.JSONDecodeError, AttributeError) as err:
        raise CliError(f"--params must be a JSON object: {err}") from None
    with Session(home, gateway, api_key) as session:
        for spec in materials:
            name, _, rest = spec.partition("=")
            file_name, _, role = rest.partition(":")
            file = Path(file_name)
            if not file.is_file():
                raise CliError(f"--material {spec}: no such file {file}")
            media_type = sniff_file(file)[0]
            info = session.assets.upload(file, media_type=media_type)
            material = request.materials.add(name=name, role=role or name)
            medium = material.video if media_type.startswith("video/") else material.image
            medium.asset_id = info.asset_id
        for spec in texts:
            role, _, text = spec.partition("=")
            request.materials.add(name=role, role=role, text=text)
        stub = production_pb2_grpc.ProductionServiceStub(session.channel)
        t0 = time.perf_counter()
        reply = stub.Produce(request, timeout=timeout)
        folder = OutputFolder(out)
        for material in reply.materials:
            kind_name = material.WhichOneof("content")
            if kind_name not in ("image", "video", "audio"):
                continue
            medium = getattr(material, kind_name)
            stem = _safe_name(material.name)
            if medium.WhichOneof("source") == "inline":
                path = folder.write_bytes(stem, medium.inline)
            else:
                path = folder.write_with(
                    stem, lambda p, m=medium: session.assets.download_to(m.asset_id, p)
                )
            console.print(f"{material.name}: {path}")
    case = reply.case
    console.print(
        f"case {case.case_id}: recipe {case.recipe}, {len(case.steps)} calls, "
        f"{(time.perf_counter() - t0) * 1000:.0f} ms"
    )


# Entry point -----------------------------------------------------------------------------
def describe(error: BaseException) -> str:
    """One line for a failed command: status, message and the details that say what to fix."""
    if isinstance(error, CliError | StartError):
        return str(error)
    if isinstance(error, grpc.RpcError):
        parts = [f"{error.code().name}: {error.details()}"]
        for detail in decode_details(error):
            parts += _detail_lines(detail)
        return "; ".join(parts)
    if isinstance(error, ServiceError):
        return f"{error.code.name}: {error.message}"
    if isinstance(error, OSError) and error.filename:
        return f"{error.strerror}: {error.filename}"
    return f"{type(error).__name__}: {error} (run with --debug for the traceback)"


def _detail_lines(detail) -> list[str]:
    kind = type(detail).__name__
    if kind == "BadRequest":
        return [f"{v.field}: {v.description}" for v in detail.field_violations]
    if kind == "QuotaFailure":
        return [f"quota {v.subject}: {v.description}" for v in detail.violations]
    if kind == "PreconditionFailure":
        return [f"{v.type} {v.subject}: {v.description}" for v in detail.violations]
    if kind == "RetryInfo":
        return [f"retry after {detail.retry_delay.ToTimedelta().total_seconds():g} s"]
    if kind == "ResourceInfo":
        return [f"{detail.resource_type} {detail.resource_name}: {detail.description}".strip()]
    return []


def main(argv: list[str] | None = None) -> None:
    """The `vipro` executable: run a command, print one line per error, exit 1 on failure."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("VIPRO_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    try:
        app(args=args, prog_name="vipro")
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(130)
    except Exception as error:
        if debug:
            raise
        errors.print(Text.assemble(("error", "red"), ": ", describe(error).replace("\n", " ")))
        sys.exit(1)


if __name__ == "__main__":
    main()
