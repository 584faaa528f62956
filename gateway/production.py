"""Productions: a request is dispatched through a declarative recipe of capability calls.

A recipe is a YAML file in the recipes directory (deploy/recipes/)::

    name: general
    type: PRODUCTION_TYPE_GENERAL
    description: Resize every image material to each requested size.
    params: {sizes: [{width: 800, height: 800}], fit: FIT_MODE_PAD}
    steps:
      - id: resize
        capability: editing.ConvertImage
        for_each: materials          # image materials; or videos, product_images, steps.<id>
        role: ""                     # only materials of this role, or of these roles
                                     # ([product, ""]: "" is no role); "" for all images
        matrix: {size: ${params.sizes}}
        request: {image: ${item.image}, width: ${size.width}, height: ${size.height}}
        output: {name: "${item.name}-${size.width}x${size.height}", image: ${result.image}}

`${path}` reads params, materials (by name), roles (materials by role: `roles.logo[0]`; the
products' pictures count as role "product"), item (the for_each element), matrix variables,
steps.<id> (a list of that step's results) and, in `output`, result; `output_each: result.x`
makes one output per element of a result list, read as `entry`; `[*]` maps a path over a list.
A step that makes several kinds of output lists them under `outputs:`, each a mapping like
`output` with its own optional `each: result.x`.
A value that is exactly one `${...}` keeps its type; otherwise it is text. `${path?}` marks an
optional value: where the path does not exist, the field (or list element) is left out, or the
text is empty. Steps run as soon as the steps they read are done. Before anything runs, every
capability is checked: a missing one fails the production with FAILED_PRECONDITION naming it.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import json_format, message_factory
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import insert, select

from common import logs
from common.contracts import find_method
from common.errors import FailedPrecondition, InvalidArgument, NotFound, ServiceError
from gateway.assets import AssetStore
from gateway.paging import next_token, page_offset
from gateway.proxy import Proxy
from gateway.stores import cases as schema
from gateway.stores.cases import CaseRow
from gateway.stores.database import Database, newest_first
from vipro.v1 import assets_pb2, production_pb2, production_pb2_grpc

_REF = re.compile(r"\$\{([^}]+)\}")
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]")


@dataclass
class Step:
    """One capability call (or one per for_each item and matrix combination)."""

    id: str
    capability: str
    request: dict
    for_each: str = ""
    role: str | list[str] = ""
    matrix: dict = field(default_factory=dict)
    output: dict | None = None
    output_each: str = ""
    outputs: list[dict] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)

    def output_specs(self) -> list[tuple[dict, str]]:
        """(output mapping, path of the result list it is made for each element of, or "")
        of every output the step makes."""
        specs = [(self.output, self.output_each)] if self.output is not None else []
        for spec in self.outputs:
            fields = {k: v for k, v in spec.items() if k != "each"}
            specs.append((fields, spec.get("each", "")))
        return specs

    def dependencies(self) -> set[str]:
        """Ids of the steps this one reads."""
        text = repr((self.request, self.for_each, self.matrix, self.output, self.outputs))
        found = set(re.findall(r"steps\.([A-Za-z0-9_\-]+)", text))
        return found | set(self.needs)


@dataclass
class Recipe:
    """A production recipe (see the module docstring)."""

    name: str
    type: int
    description: str
    params: dict
    steps: list[Step]

    @classmethod
    def load(cls, path: Path) -> Recipe:
        """Parse and check a recipe file.

        Raises:
            ValueError: malformed recipe (unknown keys, unknown or cyclic step references).
        """
        raw = yaml.safe_load(path.read_text()) or {}
        steps = [Step(**s) for s in raw.get("steps") or []]
        ids = [s.id for s in steps]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{path}: duplicate step ids")
        for step in steps:
            unknown = step.dependencies() - set(ids)
            if unknown:
                raise ValueError(f"{path}: step {step.id} reads unknown steps {sorted(unknown)}")
        recipe = cls(
            name=raw.get("name") or path.stem,
            type=production_pb2.ProductionType.Value(raw["type"]),
            description=raw.get("description", ""),
            params=raw.get("params") or {},
            steps=steps,
        )
        recipe.order()
        return recipe

    def order(self) -> list[list[Step]]:
        """Steps in waves: each wave only reads steps of earlier waves.

        Raises:
            ValueError: the steps read each other in a cycle.
        """
        done: set[str] = set()
        left = list(self.steps)
        waves = []
        while left:
            wave = [s for s in left if s.dependencies() <= done]
            if not wave:
                raise ValueError(f"recipe {self.name}: steps {[s.id for s in left]} form a cycle")
            waves.append(wave)
            done |= {s.id for s in wave}
            left = [s for s in left if s.id not in done]
        return waves

    def capabilities(self) -> list[str]:
        """Capabilities the recipe calls, in order of first use."""
        return list(dict.fromkeys(s.capability for s in self.steps))


def load_recipes(directory: Path) -> dict[str, Recipe]:
    """Every recipe of a directory, by name."""
    recipes = {}
    for path in sorted(directory.glob("*.yaml")):
        recipe = Recipe.load(path)
        recipes[recipe.name] = recipe
    return recipes


# Expressions --------------------------------------------------------------------------------
def lookup(scope: Any, path: str) -> Any:
    """Value at a dotted path with [n] indices, e.g. "steps.cut[0].cutout.rgba"; [*] maps the
    rest of the path over a list ("steps.cut[*].cutout.rgba" is a list of images).

    Raises:
        KeyError: the path does not exist.
    """
    tokens = _TOKEN.findall(path.strip())
    value = scope
    for position, (name, index) in enumerate(tokens):
        if name:
            if not isinstance(value, dict) or name not in value:
                raise KeyError(path)
            value = value[name]
        elif index == "*":
            if not isinstance(value, list):
                raise KeyError(path)
            rest = "".join(f".{n}" if n else f"[{i}]" for n, i in tokens[position + 1 :])
            return [lookup(v, rest) for v in value] if rest else value
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                raise KeyError(path)
            value = value[int(index)]
    return value


_ABSENT = object()
"""What an optional reference (``${path?}``) to a missing path renders to: left out."""


def render(template: Any, scope: dict) -> Any:
    """Substitute ${...} references in a template (dicts and lists recursively)."""
    if isinstance(template, dict):
        rendered = {k: render(v, scope) for k, v in template.items()}
        return {k: v for k, v in rendered.items() if v is not _ABSENT}
    if isinstance(template, list):
        return [v for v in (render(v, scope) for v in template) if v is not _ABSENT]
    if not isinstance(template, str):
        return template
    whole = _REF.fullmatch(template.strip())
    if whole:
        return _reference(scope, whole.group(1))
    return _REF.sub(lambda m: _text(_reference(scope, m.group(1))), template)


def _reference(scope: dict, path: str) -> Any:
    """The value a reference names; :data:`_ABSENT` for a missing optional one (``path?``)."""
    if not path.endswith("?"):
        return lookup(scope, path)
    try:
        return lookup(scope, path[:-1])
    except KeyError:
        return _ABSENT


def _text(value: Any) -> str:
    if value is _ABSENT:
        return ""
    # Struct params arrive as floats: 800.0 reads better as 800 inside a name.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# Running ------------------------------------------------------------------------------------
class CaseStore:
    """Recorded productions (cases) per tenant; every method is one blocking statement.

    Args:
        location: a SQLite file or a SQLAlchemy URL.
    """

    def __init__(self, location: Path | str):
        self.db = Database(location, schema.metadata)

    def close(self) -> None:
        self.db.close()

    def put(self, tenant: str, case: production_pb2.Case) -> None:
        """Record a new case (IntegrityError if its id is taken)."""
        row = CaseRow(case.case_id, tenant, time.time(), case.SerializeToString())
        self.db.execute(insert(schema.cases).values(asdict(row)))

    def get(self, tenant: str, case_id: str) -> production_pb2.Case:
        """A case of the tenant. Raises NotFound."""
        table = schema.cases
        row = self.db.first(
            select(table).where(table.c.id == case_id, table.c.tenant == tenant), CaseRow
        )
        if row is None:
            raise NotFound("case", case_id)
        return row.case()

    def page(self, tenant: str, limit: int, offset: int) -> list[production_pb2.Case]:
        """A page of the tenant's cases, newest first."""
        table = schema.cases
        page = newest_first(table, tenant, table.c.id, limit, offset)
        return [row.case() for row in self.db.all(page, CaseRow)]


_DEFAULT_RECIPE = {
    production_pb2.PRODUCTION_TYPE_GENERAL: "general",
    production_pb2.PRODUCTION_TYPE_ASSEMBLE: "assemble",
    production_pb2.PRODUCTION_TYPE_IMITATE: "imitate",
    production_pb2.PRODUCTION_TYPE_SUMMARY: "summary",
    production_pb2.PRODUCTION_TYPE_EDIT: "edit",
    production_pb2.PRODUCTION_TYPE_EXTEND: "extend",
    production_pb2.PRODUCTION_TYPE_ENHANCE: "enhance",
}


def _to_dict(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


class Producer:
    """Runs productions through the proxy.

    Args:
        recipes: by name.
        proxy: forwards the calls.
        cases: where cases are recorded.
        assets: where inline outputs are stored.
        default_deadline: seconds for a production when the caller set no deadline.
    """

    def __init__(
        self,
        recipes: dict[str, Recipe],
        proxy: Proxy,
        cases: CaseStore,
        assets: AssetStore,
        default_deadline: float,
    ):
        self.recipes = recipes
        self.proxy = proxy
        self.cases = cases
        self.assets = assets
        self.default_deadline = default_deadline

    def recipe_for(self, request: production_pb2.ProduceRequest) -> Recipe:
        name = request.recipe or _DEFAULT_RECIPE.get(request.type, "")
        if not name:
            raise InvalidArgument.field("type", f"unknown production type {request.type}")
        recipe = self.recipes.get(name)
        if recipe is None:
            raise InvalidArgument.field("recipe", f"no recipe named {name!r}")
        return recipe

    def check_capabilities(self, recipe: Recipe) -> None:
        """Raises FailedPrecondition naming every capability of the recipe that no instance
        serves, or whose contract the gateway does not know (it must build the requests)."""
        missing = [
            c
            for c in recipe.capabilities()
            if self.proxy.router.declaration(self.proxy.router.resolve(c)) is None
            or find_method(self.proxy.router.resolve(c)) is None
        ]
        if missing:
            raise FailedPrecondition(
                f"recipe {recipe.name} needs capabilities no instance serves: {', '.join(missing)}",
                [("CAPABILITY", c) for c in missing],
            )

    async def produce(
        self, request: production_pb2.ProduceRequest, timeout: float | None
    ) -> production_pb2.ProduceResponse:
        recipe = self.recipe_for(request)
        self.check_capabilities(recipe)
        deadline = time.monotonic() + (timeout if timeout is not None else self.default_deadline)
        params = dict(recipe.params)
        params.update(json_format.MessageToDict(request.params))
        materials = [_to_dict(m) for m in request.materials]
        product_images = [
            {"product_id": p.product_id, "index": i, "image": _to_dict(img)}
            for p in request.products
            for i, img in enumerate(p.images)
        ]
        roles: dict[str, list[dict]] = {}
        for material in materials:
            roles.setdefault(material.get("role", ""), []).append(material)
        for picture in product_images:
            roles.setdefault("product", []).append(
                {"name": picture["product_id"], "role": "product", "image": picture["image"]}
            )
        scope: dict[str, Any] = {
            "params": params,
            "materials": {m.get("name", f"m{i}"): m for i, m in enumerate(materials)},
            "material_list": materials,
            "roles": roles,
            "product_images": product_images,
            "drafts": [_to_dict(d) for d in request.drafts],
            "case_ids": list(request.case_ids),
            "steps": {},
        }
        case = production_pb2.Case(case_id=uuid.uuid4().hex, type=request.type, recipe=recipe.name)
        case.params.update(params)
        run = _Run(self.proxy, deadline, case, asyncio.Semaphore(MAX_CONCURRENT_CALLS))
        for wave in recipe.order():
            results = await _all(self._run_step(step, scope, run) for step in wave)
            for step, result in zip(wave, results, strict=True):
                scope["steps"][step.id] = result
        response = production_pb2.ProduceResponse()
        products = {p.product_id: p for p in request.products}
        new_images: dict[str, list] = {}
        for out in run.outputs:
            product_id = out.pop("product_id", "")
            if isinstance(out.get("labels"), dict):  # labels are text; results may be numbers
                out["labels"] = {k: str(v) for k, v in out["labels"].items()}
            try:
                material = json_format.ParseDict(out, production_pb2.Material())
            except json_format.ParseError as exc:
                raise InvalidArgument.field(f"recipe.{recipe.name}.output", str(exc)) from None
            await self._store_inline(material)
            response.materials.append(material)
            case.outputs.append(material)
            if product_id and material.HasField("image"):
                new_images.setdefault(product_id, []).append(material.image)
        for product_id, images in new_images.items():
            product = production_pb2.Product()
            if product_id in products:
                product.CopyFrom(products[product_id])
            product.product_id = product_id
            del product.images[:]
            product.images.extend(images)
            response.products.append(product)
        created = Timestamp()
        created.GetCurrentTime()
        case.create_time.CopyFrom(created)
        await asyncio.to_thread(self.cases.put, logs.tenant.get(), case)
        response.case.CopyFrom(case)
        return response

    async def _store_inline(self, material: production_pb2.Material) -> None:
        """Move an output's inline bytes into the tenant's asset store: replies and case records
        stay small however many outputs a production makes."""
        kind = material.WhichOneof("content")
        if kind not in ("image", "video", "audio"):
            return
        media = getattr(material, kind)
        if media.WhichOneof("source") != "inline":
            return

        async def chunks():
            yield media.inline

        header = assets_pb2.AssetHeader(media_type=media.media_type, filename=material.name)
        info, _ = await self.assets.put(logs.tenant.get(), header, chunks())
        media.asset_id = info.asset_id

    def _items(self, step: Step, scope: dict) -> list[Any]:
        if not step.for_each:
            return [None]
        if step.for_each in ("materials", "videos"):
            roles = [step.role] if isinstance(step.role, str) else step.role
            kind = "image" if step.for_each == "materials" else "video"
            return [
                m
                for m in scope["material_list"]
                if kind in m and (not step.role or m.get("role", "") in roles)
            ]
        if step.for_each == "product_images":
            return scope["product_images"]
        return list(lookup(scope, step.for_each))

    def _expand(self, step: Step, scope: dict) -> list[tuple[dict, dict]]:
        """(scope, request body) of every call a step makes: for_each items x matrix values."""
        axes = [render(v, scope) for v in step.matrix.values()]
        combos = [
            dict(zip(step.matrix, values, strict=True)) for values in itertools.product(*axes)
        ]
        items = self._items(step, scope)
        if not items:
            wanted = f" with role {step.role!r}" if step.role else ""
            raise InvalidArgument.field(
                f"recipe.{step.id}", f"has nothing to work on: no {step.for_each}{wanted}"
            )
        if len(items) * len(combos) > MAX_CALLS_PER_STEP:
            raise InvalidArgument.field(
                f"recipe.{step.id}",
                f"expands to {len(items) * len(combos)} calls, at most {MAX_CALLS_PER_STEP}",
            )
        calls = []
        for item in items:
            for combo in combos:
                local = {**scope, **combo, "item": item}
                calls.append((local, render(step.request, local)))
        return calls

    async def _run_step(self, step: Step, scope: dict, run: _Run) -> list:
        method = self.proxy.router.resolve(step.capability)
        md = find_method(method)
        try:
            calls = self._expand(step, scope)
        except (KeyError, TypeError, ValueError) as exc:
            reason = (
                f"reads {exc.args[0]!r}, which the request lacks"
                if isinstance(exc, KeyError)
                else str(exc)
            )
            raise InvalidArgument.field(f"recipe.{step.id}", reason) from None

        async def one(local: dict, body: dict) -> dict:
            request = message_factory.GetMessageClass(md.input_type)()
            try:
                json_format.ParseDict(body, request)
            except json_format.ParseError as exc:
                raise InvalidArgument.field(f"recipe.{step.id}", str(exc)) from None
            async with run.slots:
                reply = await run.call(step, method, request.SerializeToString())
            response = message_factory.GetMessageClass(md.output_type).FromString(reply)
            # Scalars at their defaults are kept (variant 0, an empty asset id): outputs name them.
            result = json_format.MessageToDict(
                response,
                preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True,
            )
            out_scope = {**local, "result": result}
            for spec, each in step.output_specs():
                try:
                    entries = lookup(out_scope, each) if each else [None]
                    for entry in entries:
                        run.outputs.append(render(spec, {**out_scope, "entry": entry}))
                except (KeyError, TypeError) as exc:
                    raise InvalidArgument.field(
                        f"recipe.{step.id}.output", f"cannot read {exc}"
                    ) from None
            return result

        return await _all(one(local, body) for local, body in calls)


MAX_CALLS_PER_STEP = 256
"""Most calls one step may expand to (for_each items x matrix values)."""

MAX_CONCURRENT_CALLS = 8
"""Most capability calls one production has in flight at once."""


@dataclass
class _Run:
    """State of one production while it runs."""

    proxy: Proxy
    deadline: float
    case: production_pb2.Case
    slots: asyncio.Semaphore
    outputs: list[dict] = field(default_factory=list)

    async def call(self, step: Step, method: str, request: bytes) -> bytes:
        """One capability call, recorded in the case; failures keep the instance's details."""
        t0 = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await self.proxy.invoke(
                method,
                request,
                self.proxy.mesh_metadata(),
                max(self.deadline - time.monotonic(), 0.001),
            )
        except grpc.aio.AioRpcError as err:
            code = err.code()
            raise ServiceError.relay(err, f"step {step.id} ({step.capability}): ") from None
        finally:
            self.case.steps.add(
                step_id=step.id,
                capability=step.capability,
                milliseconds=(time.perf_counter() - t0) * 1000.0,
                status=code.name,
            )


async def _all(coroutines) -> list:
    """Run coroutines concurrently; the first failure cancels the rest and is raised as is."""
    tasks = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coroutines]
    except* Exception as errors:
        raise errors.exceptions[0] from None
    return [t.result() for t in tasks]


class ProductionServicer(production_pb2_grpc.ProductionServiceServicer):
    """vipro.v1.ProductionService (asyncio server)."""

    def __init__(self, producer: Producer):
        self.producer = producer

    async def Produce(self, request, context):
        return await self.producer.produce(request, context.time_remaining())

    async def GetCase(self, request, context):
        case = await asyncio.to_thread(self.producer.cases.get, logs.tenant.get(), request.case_id)
        return production_pb2.GetCaseResponse(case=case)

    async def ListCases(self, request, context):
        size = request.page_size or 100
        offset = page_offset(request.page_token)
        cases = await asyncio.to_thread(
            self.producer.cases.page, logs.tenant.get(), size + 1, offset
        )
        return production_pb2.ListCasesResponse(
            cases=cases[:size], next_page_token=next_token(offset, size, len(cases))
        )
