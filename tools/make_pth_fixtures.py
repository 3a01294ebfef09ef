"""Writes the small .pth fixtures that tests/core/test_pth.py reads without torch.

Run from the repository root, with a Python that has PyTorch (>= 2.3 for
torch.uint16; never the TensorFlow environment):

    /work/torchenv/bin/python tools/make_pth_fixtures.py

It takes about 2 seconds and rewrites tests/fixtures/pth/:

* zip_mixed.pth     -- torch.save zip format (the default), every case below
* legacy_mixed.pth  -- the same dict but uint16, _use_new_zipfile_serialization=False
* zip_nocrc.pth     -- zip format written with torch.serialization.set_crc32_options(False)
* checkpoint.pth    -- {"state_dict": {...}, "epoch": 3}: must be refused, not unwrapped
* expected.npz      -- the values each tensor must load as (bfloat16 widened to float32)

The cases: a real nn.Module state dict (with its _metadata), float64/float32/
float16/bfloat16/int64/int32/int16/int8/uint8/uint16/bool tensors, a
transposed (non-contiguous) tensor, a view with a storage offset, two tensors
sharing one storage, an expanded tensor (stride 0), an nn.Parameter, a 0-d and
an empty tensor. The .pth bytes are not reproducible run to run (torch writes
a random serialization id and memory addresses as legacy keys), but the values
are seeded, so expected.npz only changes if the cases do.
"""

import collections
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "pth")


def cases():
    gen = torch.Generator().manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    sd = module.state_dict()  # an OrderedDict carrying _metadata: exercises BUILD

    def randn(*shape, dtype=torch.float32):
        return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)

    sd["f64"] = randn(2, 3, dtype=torch.float64)
    sd["f32"] = randn(3, 4)
    sd["f16"] = randn(2, 3, dtype=torch.float16)
    sd["bf16"] = torch.tensor([1.0, -2.5, 3.140625, 1e-3, 65280.0, float("inf")], dtype=torch.bfloat16)
    sd["i64"] = torch.tensor([-(2 ** 62), -1, 0, 1, 2 ** 62], dtype=torch.int64)
    sd["i32"] = torch.tensor([[-(2 ** 31), 7], [2 ** 31 - 1, 0]], dtype=torch.int32)
    sd["i16"] = torch.tensor([-32768, 5, 32767], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 0, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
    sd["u16"] = torch.tensor([0, 1, 65535], dtype=torch.uint16)  # saved via _rebuild_tensor_v3
    sd["mask"] = torch.tensor([True, False, True])
    base = randn(3, 4)
    sd["transposed"] = base.t()  # shape (4, 3), stride (1, 4)
    flat = torch.arange(20, dtype=torch.float32)
    sd["offset_view"] = flat[5:11].view(2, 3)  # storage offset 5 into a 20-element storage
    shared = torch.arange(12, dtype=torch.int32) * 3
    sd["shared_a"] = shared[:6].view(2, 3)
    sd["shared_b"] = shared.view(3, 4)[:, 1:3]  # offset 1, stride (4, 1), same storage
    sd["expanded"] = torch.tensor([1.5, -2.0, 4.25]).expand(2, 3)  # stride (0, 1)
    sd["param"] = torch.nn.Parameter(randn(3))
    sd["scalar"] = torch.tensor(2.75, dtype=torch.float64)
    sd["empty"] = torch.zeros(0, 3)
    return sd


def expected(sd):
    out = {}
    for k, v in sd.items():
        v = v.detach()
        out[k] = (v.float() if v.dtype == torch.bfloat16 else v).contiguous().numpy()
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = cases()
    torch.save(sd, os.path.join(OUT, "zip_mixed.pth"))
    # torch cannot load the uint16 (UntypedStorage) case back from the legacy format, so leave it out.
    legacy = collections.OrderedDict((k, v) for k, v in sd.items() if k != "u16")
    legacy._metadata = sd._metadata
    torch.save(legacy, os.path.join(OUT, "legacy_mixed.pth"), _use_new_zipfile_serialization=False)
    small = collections.OrderedDict(f32=sd["f32"], offset_view=sd["offset_view"])
    torch.serialization.set_crc32_options(False)
    try:
        torch.save(small, os.path.join(OUT, "zip_nocrc.pth"))
    finally:
        torch.serialization.set_crc32_options(True)
    torch.save({"state_dict": small, "epoch": 3}, os.path.join(OUT, "checkpoint.pth"))
    np.savez(os.path.join(OUT, "expected.npz"), **expected(sd))
    # Sanity: torch itself reads back what it wrote.
    for name, saved in (("zip_mixed.pth", sd), ("legacy_mixed.pth", legacy)):
        back = torch.load(os.path.join(OUT, name), weights_only=True)
        assert list(back) == list(saved), name
        for k, v in expected(saved).items():
            got = back[k].detach()
            got = got.float() if got.dtype == torch.bfloat16 else got
            assert np.array_equal(got.numpy(), v, equal_nan=True), (name, k)
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
