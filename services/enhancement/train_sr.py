"""Train the super-resolution nets (x2/x3/x4) on T91 and evaluate them on Set5.

``python -m services.enhancement.train_sr --scales 2 3 4`` (what ``make train-sr`` runs).

Recipe (seeded, deterministic given the same number of iterations):

* Data: the 91 T91 images plus MATLAB-bicubic down-scaled copies (x0.9 ... x0.6, as FSRCNN
  did), each cropped so its sides divide by the scale. LR images are made the way the Set5
  SelfExSR LR files were made: MATLAB ``imresize(hr, 1/s, 'bicubic')`` on ``uint8`` RGB
  (:func:`quality.imresize`), then MATLAB-rounded luma. The net sees luma only.
* Patches: random LR crops with the matching HR crop, random flips / 90-degree rotations,
  drawn by a seeded numpy generator.
* Optimisation: Adam, L1 loss, cosine learning-rate decay over the run. The run of each scale
  stops at ``--iters`` iterations or at its share of the ``--minutes`` wall-clock budget,
  whichever comes first; the schedule follows whichever is further along, so a slow machine
  still ends with an annealed model (but then the iteration count, and the weights, differ).
* x3 and x4 start from the trained x2 body (every weight except the sub-pixel tail), which
  converges much faster than training from scratch.
* End: Set5 evaluation (PSNR on Y, border = scale, SelfExSR LR files) printed as a table,
  weights saved to ``deploy/triton/models/vipro_sr/1/weights_x{s}.pt`` (float32 state dict),
  figures written to ``bench/results/train_sr.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from services.enhancement import luma_sr, quality
from services.enhancement.nets import SR_WEIGHTS, SRNet

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "bench" / "results"
CL = torch.channels_last  # ~4x faster conv backward on CPU (oneDNN) than NCHW

# Published Set5 figures (PSNR on Y, dB) quoted in ../shared/data/{Set5,T91}/SOURCE.txt.
PUBLISHED_SET5 = {
    2: {"bicubic (SelfExSR)": 33.64, "SRCNN (SelfExSR table)": 36.28, "FSRCNN (paper)": 36.94},
    3: {
        "bicubic (SelfExSR)": 30.39,
        "SRCNN (SelfExSR table)": 32.37,
        "ESPCN-91 (paper)": 32.55,
        "FSRCNN (paper)": 33.06,
    },
    4: {"bicubic (SelfExSR)": 28.42, "SRCNN (SelfExSR table)": 30.08, "FSRCNN (paper)": 30.55},
}


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and torch; return a numpy generator for the data pipeline.

    (``torch.use_deterministic_algorithms`` is not set: it makes CPU conv backward ~4x slower,
    and the CPU kernels used here give identical results run to run with a fixed thread count.)
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def load_t91(data: Path) -> list[np.ndarray]:
    """The 91 T91 images as ``uint8`` RGB arrays, in sorted file-name order."""
    files = sorted((data / "T91").glob("*.bmp"))
    if len(files) != 91:
        raise SystemExit(f"expected 91 BMP files in {data / 'T91'}, found {len(files)}")
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/rotations of the last two axes of ``a`` (``k`` in 0..7)."""
    if k & 4:
        a = a.swapaxes(-1, -2)
    return np.rot90(a, k & 3, axes=(-2, -1))


class Schedule:
    """Cosine learning rate over ``progress = max(it / iters, elapsed / seconds)``."""

    def __init__(self, lr: float, iters: int, seconds: float, lr_min_ratio: float = 0.01):
        self.lr, self.iters, self.seconds, self.floor = lr, iters, seconds, lr_min_ratio
        self.start = time.monotonic()

    def progress(self, it: int) -> float:
        return max(it / self.iters, (time.monotonic() - self.start) / self.seconds)

    def rate(self, p: float) -> float:
        c = 0.5 * (1 + math.cos(math.pi * min(p, 1.0)))
        return self.lr * (self.floor + (1 - self.floor) * c)


def make_pairs(images: list[np.ndarray], scale: int, shrink: tuple[float, ...]) -> list[tuple]:
    """(HR luma, LR luma) float32 pairs in 0..1 for every image and every shrink factor."""
    pairs = []
    for img in images:
        for f in shrink:
            hr = img if f == 1.0 else quality.imresize(img, f)
            h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
            hr = hr[:h, :w]
            lr = quality.imresize(hr, 1.0 / scale)
            pairs.append(
                (
                    quality.rgb_to_y(hr).astype(np.float32) / 255.0,
                    quality.rgb_to_y(lr).astype(np.float32) / 255.0,
                )
            )
    return pairs


class PatchSampler:
    """Random aligned LR/HR luma patches with flips/rotations from a seeded generator."""

    def __init__(self, pairs: list[tuple], scale: int, lr_patch: int, rng: np.random.Generator):
        self.pairs = [(h, lr) for h, lr in pairs if min(lr.shape) >= lr_patch]
        self.scale, self.p, self.rng = scale, lr_patch, rng
        area = np.array(
            [(lr.shape[0] - lr_patch + 1) * (lr.shape[1] - lr_patch + 1) for _, lr in self.pairs]
        )
        self.prob = area / area.sum()

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        s, p = self.scale, self.p
        idx = self.rng.choice(len(self.pairs), size=n, p=self.prob)
        lrs = np.empty((n, 1, p, p), np.float32)
        hrs = np.empty((n, 1, p * s, p * s), np.float32)
        for j, i in enumerate(idx):
            hr, lr = self.pairs[i]
            y = int(self.rng.integers(0, lr.shape[0] - p + 1))
            x = int(self.rng.integers(0, lr.shape[1] - p + 1))
            k = int(self.rng.integers(0, 8))
            lrs[j, 0] = dihedral(lr[y : y + p, x : x + p], k)
            hrs[j, 0] = dihedral(hr[y * s : (y + p) * s, x * s : (x + p) * s], k)
        return torch.from_numpy(lrs), torch.from_numpy(hrs)


def load_set5(data: Path, scale: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, HR uint8 RGB, SelfExSR LR uint8 RGB) for the five Set5 images at ``scale``."""
    d = data / "Set5" / "SelfExSR" / f"image_SRF_{scale}"
    out = []
    for i in range(1, 6):
        hr = np.asarray(Image.open(d / f"img_00{i}_SRF_{scale}_HR.png").convert("RGB"))
        lr = np.asarray(Image.open(d / f"img_00{i}_SRF_{scale}_LR.png").convert("RGB"))
        out.append((f"img_00{i}", hr, lr))
    return out


def evaluate_set5(model: SRNet, data: Path, scale: int) -> dict:
    """Set5 PSNR/SSIM on Y (border = scale) of ``model`` and of MATLAB bicubic."""
    network = luma_sr.torch_network(model)
    rows = {}
    for name, hr, lr in load_set5(data, scale):
        y_hr = quality.rgb_to_y(hr)
        y_sr = luma_sr.upscale_luma(network, quality.rgb_to_y(lr), scale)
        y_bic = quality.bicubic_upscale_y(lr, scale)
        y_sr_u8 = np.clip(np.floor(y_sr + 0.5), 0, 255)
        rows[name] = {
            "psnr": quality.psnr_y(y_sr, y_hr, scale),
            "psnr_bicubic": quality.psnr_y(y_bic, y_hr, scale),
            "ssim": quality.ssim(y_sr_u8, y_hr, scale),
            "ssim_bicubic": quality.ssim(y_bic, y_hr, scale),
        }
    mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in next(iter(rows.values()))}
    return {"images": rows, "mean": mean}


def train_scale(args: argparse.Namespace, scale: int, images, init: SRNet | None, seconds: float):
    """Train one scale; returns (model, log dict)."""
    rng = seed_everything(args.seed + scale)
    t0 = time.monotonic()
    pairs = make_pairs(images, scale, tuple(args.shrink))
    sampler = PatchSampler(pairs, scale, args.patch, rng)
    prep = time.monotonic() - t0
    model = SRNet(scale, channels=args.channels, layers=args.layers)
    if init is not None:  # start from the previous scale's body (all but the sub-pixel tail)
        state = {k: v for k, v in init.state_dict().items() if not k.startswith("tail.")}
        model.load_state_dict(state, strict=False)
    model = model.to(memory_format=CL)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    iters = args.iters if init is None else args.iters_finetune
    sched = Schedule(args.lr, iters, max(seconds - prep, 1.0))
    model.train()
    it, p, run_loss = 0, 0.0, 0.0
    while p < 1.0:
        lr_b, hr_b = (t.contiguous(memory_format=CL) for t in sampler.batch(args.batch))
        for g in opt.param_groups:
            g["lr"] = sched.rate(p)
        loss = F.l1_loss(model(lr_b), hr_b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        it += 1
        run_loss = 0.98 * run_loss + 0.02 * float(loss.detach())
        p = sched.progress(it)
        if args.eval_every and it % args.eval_every == 0:
            m = evaluate_set5(model, args.data, scale)["mean"]["psnr"]
            model.train()
            print(f"  x{scale} it {it} loss {run_loss:.5f} set5 {m:.3f}", flush=True)
    elapsed = time.monotonic() - t0
    stop = "iterations" if it >= iters else "time budget"
    print(f"x{scale}: {it} iterations in {elapsed:.0f} s (stopped by {stop})", flush=True)
    log = {
        "iterations": it,
        "iterations_planned": iters,
        "stopped_by": stop,
        "seconds": round(elapsed, 1),
        "data_prep_seconds": round(prep, 1),
        "initialised_from": None if init is None else f"x{init.scale}",
    }
    return model.eval(), log


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4], choices=[2, 3, 4])
    ap.add_argument("--minutes", type=float, default=40.0, help="wall-clock budget, all scales")
    ap.add_argument("--iters", type=int, default=4000, help="iterations of the first scale")
    ap.add_argument("--iters-finetune", type=int, default=2000, help="iterations of later scales")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--patch", type=int, default=32, help="LR patch side")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--layers", type=int, default=7)
    ap.add_argument("--shrink", type=float, nargs="+", default=[1.0, 0.9, 0.8, 0.7, 0.6])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=0, help="Set5 check every N its (dev)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=SR_WEIGHTS)
    ap.add_argument("--results", type=Path, default=RESULTS / "train_sr.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    images = load_t91(args.data)
    # Budget shares: the first scale trains from scratch and gets twice a fine-tune's share.
    shares = [2.0 if i == 0 else 1.0 for i in range(len(args.scales))]
    budget = args.minutes * 60.0
    deadline = time.monotonic() + budget
    args.out.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    results.setdefault("scales", {})
    prev = None
    for i, scale in enumerate(args.scales):
        remaining = deadline - time.monotonic()
        seconds = remaining * shares[i] / sum(shares[i:])
        model, log = train_scale(args, scale, images, prev, seconds)
        state = {k: v.float() for k, v in model.state_dict().items()}
        torch.save(state, args.out / f"weights_x{scale}.pt")
        ev = evaluate_set5(model, args.data, scale)
        results["scales"][f"x{scale}"] = {
            "set5_psnr_y": round(ev["mean"]["psnr"], 3),
            "set5_psnr_y_bicubic": round(ev["mean"]["psnr_bicubic"], 3),
            "set5_ssim_y": round(ev["mean"]["ssim"], 4),
            "set5_ssim_y_bicubic": round(ev["mean"]["ssim_bicubic"], 4),
            "per_image": {
                k: {m: round(v, 4) for m, v in r.items()} for k, r in ev["images"].items()
            },
            "published": PUBLISHED_SET5[scale],
            "params": sum(p.numel() for p in model.parameters()),
            "weights": str((args.out / f"weights_x{scale}.pt").relative_to(REPO))
            if args.out.is_relative_to(REPO)
            else str(args.out / f"weights_x{scale}.pt"),
            "train": log,
        }
        if scale == 2 or prev is None:
            prev = model
    results["protocol"] = (
        "Set5 SelfExSR crops and LR files; PSNR/SSIM on MATLAB-rounded BT.601 Y, border = scale"
    )
    results["recipe"] = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in {"data", "out", "results", "eval_every"}
    }
    results["torch"] = torch.__version__
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")

    print("\nSet5, PSNR on Y (dB), border = scale")
    print(f"{'scale':<6}{'ours':>8}{'bicubic':>9}{'gain':>7}  published")
    for scale in args.scales:
        r = results["scales"][f"x{scale}"]
        pub = ", ".join(f"{k} {v}" for k, v in r["published"].items())
        gain = r["set5_psnr_y"] - r["set5_psnr_y_bicubic"]
        ours, bicubic = r["set5_psnr_y"], r["set5_psnr_y_bicubic"]
        print(f"x{scale:<5}{ours:>8.2f}{bicubic:>9.2f}{gain:>7.2f}  {pub}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
