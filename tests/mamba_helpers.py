"""What the students' model tests share: mamba-ssm / causal-conv1d stand-ins in torch, written from
the kernels' documented contracts, so the kernel path's plumbing (argument shapes, grouping, which
bias goes where) is tested without a GPU; and checkpoints rewritten in the other published layouts."""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from harness.generation.kernels.decode_attention import attend_masked
from harness.generation.models.mamba_kernels import Kernels


def seeded() -> torch.Generator:
    # Token ids independent of the order tests run in (the tolerances are checked on these).
    return torch.Generator().manual_seed(0)


def state_update(state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False):
    """selective_state_update: state [b, H, P, N]; x, dt, z [b, H, P]; A [H, P, N]; B, C [b, G, N]."""
    rep = state.shape[1] // B.shape[1]
    dt = dt.float() + (0 if dt_bias is None else dt_bias.float())
    dt = F.softplus(dt) if dt_softplus else dt
    B, C = B.float().repeat_interleave(rep, 1)[:, :, None], C.float().repeat_interleave(rep, 1)[:, :, None]
    state.copy_(state * torch.exp(dt[..., None] * A) + (dt * x.float())[..., None] * B)
    out = (state * C).sum(-1) + (0 if D is None else D.float() * x.float())
    return (out if z is None else out * F.silu(z.float())).to(x.dtype)


def selective_scan(u, delta, A, B, C, D, z=None, delta_bias=None, delta_softplus=False, return_last_state=False):
    """selective_scan_fn: u, delta, z [b, D, L]; A [D, N]; B, C [b, G, N, L] over groups of D/G channels."""
    rep = u.shape[1] // B.shape[1]
    delta = delta.float() + (0 if delta_bias is None else delta_bias.float()[:, None])
    delta = F.softplus(delta) if delta_softplus else delta
    B, C = B.float().repeat_interleave(rep, 1), C.float().repeat_interleave(rep, 1)
    state, ys = u.new_zeros(u.shape[0], u.shape[1], A.shape[1], dtype=torch.float32), []
    for t in range(u.shape[2]):
        state = state * torch.exp(delta[..., t, None] * A) + (delta[..., t] * u[..., t].float())[..., None] * B[..., t]
        ys.append((state * C[..., t]).sum(-1))
    y = torch.stack(ys, -1) + (0 if D is None else D.float()[:, None] * u.float())
    y = (y if z is None else y * F.silu(z.float())).to(u.dtype)
    return (y, state) if return_last_state else y


def chunk_scan(x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None, dt_softplus=False,
               return_final_states=False):
    """mamba_chunk_scan_combined: x [b, L, H, P]; dt [b, L, H]; A, D, dt_bias [H]; B, C [b, L, G, N]."""
    b, length, h, p = x.shape
    per_channel = lambda t: None if t is None else t.repeat_interleave(p, -1)
    y, last = selective_scan(x.permute(0, 2, 3, 1).reshape(b, h * p, length), per_channel(dt).transpose(1, 2),
                             per_channel(A)[:, None].expand(-1, B.shape[-1]), B.permute(0, 2, 3, 1),
                             C.permute(0, 2, 3, 1), per_channel(D), delta_bias=per_channel(dt_bias),
                             delta_softplus=dt_softplus, return_last_state=True)
    y = y.view(b, h, p, length).permute(0, 3, 1, 2)
    return (y, last.view(b, h, p, -1)) if return_final_states else y


def conv_update(x, conv_state, weight, bias=None, activation=None):
    """causal_conv1d_update: x [b, D]; conv_state [b, D, W] shifted left by one, x appended (in place);
    weight [D, W]; activation None, "silu" or "swish"; returns [b, D] in x's dtype."""
    conv_state.copy_(torch.cat([conv_state[..., 1:], x[..., None].to(conv_state.dtype)], dim=-1))
    out = (conv_state * weight).sum(-1) + (0 if bias is None else bias)
    return (out if activation is None else F.silu(out)).to(x.dtype)


def standins(selective: bool = True, conv: bool = True) -> Kernels:
    return Kernels(state_update, chunk_scan, selective_scan if selective else None, conv_update if conv else None)


@torch.inference_mode()
def assert_kernel_path_matches_reference(model, kernels: Kernels, ids: torch.Tensor, prompt_len: int,
                                         atol: float) -> None:
    """``model`` (a SlotLM) on ``kernels``: its full forward, and decoding ``ids`` past a prefill of
    ``prompt_len`` tokens in slot 1 of 2, against its own reference path's full forward."""
    model.kernels = None
    reference = model(ids)[0]
    model.kernels = kernels
    torch.testing.assert_close(model(ids)[0], reference, atol=atol, rtol=0)
    prompt = model.prefill(ids[:, :prompt_len])
    state = model.allocate(2, ids.shape[1] + 4)
    state.load(torch.tensor([1], device=ids.device), prompt)
    for t in range(prompt_len, ids.shape[1]):
        logits = model.step(ids[0, t].repeat(2), state, attend_masked)
        torch.testing.assert_close(logits[1], reference[t], atol=atol, rtol=0)


def restore(directory, storage: str) -> None:
    """Rewrite model.safetensors as two shards with an index, or as pytorch_model.bin (``storage``
    "sharded" / "bin"; "single" leaves it)."""
    if storage == "single":
        return
    tensors = load_file(directory / "model.safetensors")
    (directory / "model.safetensors").unlink()
    if storage == "bin":
        torch.save(tensors, directory / "pytorch_model.bin")
        return
    names = sorted(tensors)
    weight_map = {}
    for i, part in enumerate((names[: len(names) // 2], names[len(names) // 2:])):
        file = f"model-0000{i + 1}-of-00002.safetensors"
        save_file({k: tensors[k] for k in part}, directory / file)
        weight_map.update(dict.fromkeys(part, file))
    (directory / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
