#!/usr/bin/python3
"""Training speed of ternserve-train next to Python LibTorch on the same network.

Both sides train the SuperNet's largest sub-net (ResNet, 3 stages x 3 basic blocks, 32/64/128
channels, 124 M MACs per image) with TWN fake-quantized weights and a straight-through estimator,
batch 128, channels-last, Nesterov SGD: the warm-up phase of the recipe. The two are run in turn,
`--rounds` times, on the same number of threads, and the ratio of their steps/s is reported.

ternserve-train's figure is its own progress line over a 30-step epoch (it includes random crop and
flip and the batch gather); Python's is timed over the same number of steps on one fixed batch,
after 3 untimed steps.

Needs python3-torch (not installed by `make deps`: only this benchmark uses it).

Usage: /usr/bin/python3 bench/train_speed.py [--threads=2] [--rounds=2] [--trainer=build/bin/ternserve-train]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    sys.exit("train_speed.py needs Debian's python3-torch (sudo apt-get install python3-torch) and "
             "/usr/bin/python3")

STEPS = 30
BATCH = 128


class TwnWeight(torch.autograd.Function):
    """TWN per output channel: delta = 0.7 mean|w|, alpha = mean of |w| above delta; STE backward."""

    @staticmethod
    def forward(ctx, w):
        a = w.abs()
        dims = tuple(range(1, w.dim()))
        keep = (a > 0.7 * a.mean(dim=dims, keepdim=True)).float()
        alpha = (a * keep).sum(dim=dims, keepdim=True) / keep.sum(dim=dims, keepdim=True).clamp_min(1)
        return alpha * torch.sign(w) * keep

    @staticmethod
    def backward(ctx, grad):
        return grad


class TernaryConv(nn.Conv2d):
    def forward(self, x):
        return F.conv2d(x, TwnWeight.apply(self.weight), None, self.stride, self.padding)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = TernaryConv(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = TernaryConv(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.shortcut = None
        if cin != cout or stride != 1:
            self.shortcut = nn.Sequential(TernaryConv(cin, cout, 1, stride, 0, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(h + (x if self.shortcut is None else self.shortcut(x)))


class Largest(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.bn = TernaryConv(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32)
        blocks, cin = [], 32
        for cout, stride in ((32, 1), (64, 2), (128, 2)):
            for b in range(3):
                blocks.append(Block(cin, cout, stride if b == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(128, 10)  # TWN-quantized like the rest in the trainer; cost is nil

    def forward(self, x):
        return self.fc(self.blocks(F.relu(self.bn(self.stem(x)))).mean((2, 3)))


def python_steps_per_second(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = Largest().to(memory_format=torch.channels_last)
    x = torch.rand(BATCH, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (BATCH,))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    for step in range(3 + STEPS):
        if step == 3:
            start = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(net(x), y, label_smoothing=0.1).backward()
        opt.step()
    return STEPS / (time.perf_counter() - start)


def trainer_steps_per_second(trainer, threads, workdir):
    command = [trainer, f"--out={workdir}/speed.tsn", "--quantizer=twn", f"--threads={threads}",
               f"--train_images={STEPS * BATCH}", "--epochs=1", "--warmup_epochs=1",
               "--search_samples=0", "--calib_images=256", "--eval_images=256", "--plots=false"]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({run.returncode}):\n{run.stderr[-2000:]}")
    rates = re.findall(rf"step {STEPS}/{STEPS} .*?([0-9.]+) steps/s", run.stderr)
    if not rates:
        sys.exit(f"no progress line for step {STEPS} in the trainer's output:\n{run.stderr[-2000:]}")
    return float(rates[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads on both sides (default 2)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating rounds; the median is reported (default 2)")
    parser.add_argument("--trainer", default="build/bin/ternserve-train", help="the trainer binary")
    args = parser.parse_args()
    if args.threads < 1 or args.rounds < 1:
        parser.error("need --threads >= 1 and --rounds >= 1")
    if not os.access(args.trainer, os.X_OK):
        parser.error(f"{args.trainer} is not an executable; build it first (ninja -C build ternserve-train)")
    cpp, py = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for r in range(args.rounds):
            cpp.append(trainer_steps_per_second(args.trainer, args.threads, workdir))
            py.append(python_steps_per_second(args.threads))
            print(f"round {r + 1}/{args.rounds}: ternserve-train {cpp[-1]:.2f} steps/s, "
                  f"Python LibTorch {py[-1]:.2f} steps/s", flush=True)
    c, p = statistics.median(cpp), statistics.median(py)
    print(f"median over {args.rounds} rounds, {args.threads} thread(s), batch {BATCH}: "
          f"ternserve-train {c:.2f} steps/s ({55000 // BATCH / c / 60:.1f} min per "
          f"55,000-image epoch), Python {p:.2f} steps/s; ratio {c / p:.2f}")


if __name__ == "__main__":
    main()
