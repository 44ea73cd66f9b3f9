#!/usr/bin/python3
"""tests/reference/make_reference.py — float64 PyTorch reference trajectories (issue 25).

Run by hand, never by the suite (the project itself needs neither numpy nor PyTorch):

    apt-get install -y python3-numpy python3-torch      # Debian's packages
    meson setup build && ninja -C build tests/dump_problem
    /usr/bin/python3 tests/reference/make_reference.py build/tests/dump_problem

It runs dump_problem (the problem of tests/reference/problem.h: 64 synthetic 6x6 images, each
variant's settings and initial weights, the CAE+H corruptions of every step), replays every
variant in float64 with torch.autograd and torch.optim, and writes reference.txt beside this
script: each step's loss and the parameters after steps 1 and 30.  tests/test_reference.c
replays the same steps with tapegrad (float32) and compares.

Everything the loss means is written here again, independently of the C code, from the
definitions in docs/cli.md and models/cae/cae_model.h:

    z = x·W + b,  h = f(z),  logits = h·V + c (V = Wᵀ when tied),  y = logits or σ(logits)
    mse  R = (1/(B·D)) Σ_b Σ_i (y_bi − x_bi)²           (mean over pixels and batch)
    bce  R = (1/B) Σ_b Σ_i bce(logits_bi, x_bi)          (sum over pixels, mean over batch)
    P = (1/B) Σ_b Σ_j f'(z_bj)² Σ_i W_ij²
    Q = (1/(k·B)) Σ_r Σ_j (f'(z_{r mod B, j}) − f'(z̃_rj))² Σ_i W_ij²,  z̃ = x̃·W + b
    L = R + λ·P + γ·Q
    MLP: softmax cross-entropy of the logits, mean over the batch

with λ, γ and the optimizers' settings as the float32 values the library uses.
"""
import os
import subprocess
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))


def f32(text):
    """The float32 value a setting printed with 9 digits stands for, as a Python float."""
    return float(np.float32(float(text)))


def floats(words):
    """Numbers printed from floats with 9 digits -> those very floats, as float64."""
    return np.array(words, dtype=np.float32).astype(np.float64)


def parse_problem(text):
    """The dump's lines -> (x [64,D], labels, [variant dicts])."""
    lines = iter(text.splitlines())
    head = dict(kv.split("=") for kv in next(lines).split()[1:])
    words = next(lines).split()
    x = floats(words[2:]).reshape(int(head["images"]), -1)
    labels = np.array(next(lines).split()[2:], dtype=np.int64)
    variants = []
    for line in lines:
        words = line.split()
        if words[0] == "variant":
            v = {"name": words[1], "params": [], "x_tilde": {}}
        elif words[0] == "config":
            v["config_line"] = line[len("config "):]
            v["config"] = dict(kv.split("=", 1) for kv in words[1:])
        elif words[0] == "param":
            name, ndim = words[1], int(words[2])
            shape = tuple(int(s) for s in words[3:3 + ndim])
            values = floats(words[3 + ndim:]).reshape(shape)
            v["params"].append((name, values))
        elif words[0] == "x_tilde":
            step, rows = int(words[1]), int(words[2])
            v["x_tilde"][step] = floats(words[3:]).reshape(rows, -1)
        elif words[0] == "end":
            variants.append(v)
    return head, x, labels, variants


def activation(kind, param):
    """f and f' of an activation, as functions of z."""
    sig = torch.sigmoid
    if kind == "sigmoid":
        return sig, lambda z: sig(z) * (1 - sig(z))
    if kind == "tanh":
        return torch.tanh, lambda z: 1 - torch.tanh(z) ** 2
    if kind == "relu":
        return torch.relu, lambda z: (z > 0).to(z.dtype)
    if kind == "softplus":
        return torch.nn.functional.softplus, sig
    if kind == "leaky_relu":
        return (lambda z: torch.where(z > 0, z, param * z),
                lambda z: torch.where(z > 0, torch.ones_like(z), torch.full_like(z, param)))
    if kind == "elu":
        return (lambda z: torch.where(z > 0, z, param * torch.expm1(torch.clamp(z, max=0))),
                lambda z: torch.where(z > 0, torch.ones_like(z), param * torch.exp(torch.clamp(z, max=0))))
    raise ValueError(kind)


def bce_logits(logits, target):
    return torch.clamp(logits, min=0) - logits * target + torch.log1p(torch.exp(-logits.abs()))


def cae_loss(c, p, x, x_tilde, f, fprime, kinks):
    W, b, c_bias = p["enc.weight"], p["enc.bias"], p["dec.bias"]
    V = W.t() if c["tied"] == "1" else p["dec.weight"]
    z = x @ W + b
    h = f(z)
    logits = h @ V + c_bias
    if c["loss"] == "bce":
        recon = bce_logits(logits, x).sum(dim=1).mean()
    else:
        y = torch.sigmoid(logits) if c["decoder"] == "sigmoid" else logits
        recon = ((y - x) ** 2).mean()
    col = (W ** 2).sum(dim=0)  # Σ_i W_ij²  [H]
    penalty = ((fprime(z) ** 2) * col).sum() / x.shape[0]
    loss = recon + f32(c["lambda"]) * penalty
    kinks.append(z.detach().abs().min().item())
    if x_tilde is not None:
        z_t = x_tilde @ W + b
        k = x_tilde.shape[0] // x.shape[0]
        d = fprime(z).repeat(k, 1) - fprime(z_t)  # row r pairs with input r mod B
        hess = ((d ** 2) * col).sum() / x_tilde.shape[0]
        loss = loss + f32(c["gamma"]) * hess
        kinks.append(z_t.detach().abs().min().item())
    return loss


def mlp_loss(c, p, names, x, labels, f, kinks):
    h = x
    n_layers = len(names) // 2
    for k in range(n_layers):
        z = h @ p[names[2 * k]] + p[names[2 * k + 1]]
        if k + 1 < n_layers:
            kinks.append(z.detach().abs().min().item())
            h = f(z)
    return torch.nn.functional.cross_entropy(z, labels)


def optimizer(c, params):
    lr = f32(c["lr"])
    if c["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(f32(c["beta1"]), f32(c["beta2"])), eps=f32(c["eps"]))
    return torch.optim.SGD(params, lr=lr, momentum=f32(c["momentum"]), nesterov=c["nesterov"] == "1")


def run_variant(v, x_all, labels_all):
    c = v["config"]
    batch, steps = int(c["batch"]), int(c["steps"])
    names = [n for n, _ in v["params"]]
    p = {n: torch.tensor(val, requires_grad=True) for n, val in v["params"]}
    f, fprime = activation(c["activation"], f32(c["act_param"]))
    opt = optimizer(c, [p[n] for n in names])
    losses, after, kinks = [], {}, []
    for step in range(1, steps + 1):
        first = (step - 1) * batch % x_all.shape[0]
        x = torch.tensor(x_all[first:first + batch])
        opt.zero_grad()
        if c["model"] == "cae":
            xt = v["x_tilde"].get(step)
            loss = cae_loss(c, p, x, None if xt is None else torch.tensor(xt), f, fprime, kinks)
        else:
            loss = mlp_loss(c, p, names, x, torch.tensor(labels_all[first:first + batch]), f, kinks)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step in (1, steps):
            after[step] = [(n, p[n].detach().numpy().copy()) for n in names]
    return losses, after, min(kinks)


def numbers(values):
    return " ".join("%.8g" % x for x in np.asarray(values).ravel())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_reference.py PATH/TO/dump_problem")
    dump = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout
    head, x, labels, variants = parse_problem(dump)
    out = [
        "# tests/reference/reference.txt — written by make_reference.py (float64 PyTorch %s, numpy %s); do not edit."
        % (torch.__version__, np.__version__),
        "# Per variant: its settings (as dump_problem prints them), checksums of its initial parameters,",
        "# the loss of each step (before that step's update) and the parameters after steps 1 and %s." % head["steps"],
        "problem images=%s rows=%s cols=%s steps=%s x_sum=%.17g x_sumsq=%.17g"
        % (head["images"], head["rows"], head["cols"], head["steps"], x.sum(), (x ** 2).sum()),
    ]
    for v in variants:
        losses, after, nearest_kink = run_variant(v, x, labels)
        init = np.concatenate([val.ravel() for _, val in v["params"]])
        out += ["variant " + v["name"], "config " + v["config_line"],
                "init n=%d sum=%.17g sumsq=%.17g" % (init.size, init.sum(), (init ** 2).sum()),
                "loss %d %s" % (len(losses), numbers(losses))]
        for step in sorted(after):
            for name, val in after[step]:
                out.append("after %d %s %d %s" % (step, name, val.size, numbers(val)))
        out.append("end")
        kink = " nearest |z| %.2g" % nearest_kink if v["config"]["activation"] in ("relu", "leaky_relu", "elu") else ""
        print("%-40s loss %.6g -> %.6g%s" % (v["name"], losses[0], losses[-1], kink))
    with open(os.path.join(HERE, "reference.txt"), "w") as fh:
        fh.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
