#!/usr/bin/env python3
"""Recompute golden_greedy.json's last-position top-5 logits with Hugging Face transformers.

Tells whether a gap between our fp32 logits and the golden file is ours or the file's: runs the
same checkpoint in float32 on the CPU (exact fp32 GEMMs) and, if a GPU is present, on the GPU
with TF32 matmuls off and on, and prints each one's largest top-5 difference from the golden file.

  python3 hf_reference_check.py /path/to/pycode-19m
"""
import json
import sys

import torch
from transformers import LlamaForCausalLM


def top5(model, device, cases):
    """The logits at the golden file's top-5 ids, per case."""
    out = []
    for case in cases:
        ids = torch.tensor([case["prompt_ids"]], device=device)
        with torch.no_grad():
            logits = model(ids).logits[0, -1].double().cpu()
        out.append([logits[i].item() for i in case["last_logits_top5_ids"]])
    return out


def max_diff(a, b):
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def main(model_dir):
    cases = json.load(open(f"{model_dir}/golden_greedy.json"))["cases"]
    golden = [c["last_logits_top5"] for c in cases]
    model = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    cpu = top5(model, "cpu", cases)
    print(f"cpu fp32: max |top5 - golden| = {max_diff(cpu, golden):.2e}")
    print("cpu fp32 top5 values:", json.dumps([[round(v, 5) for v in r] for r in cpu]))
    if torch.cuda.is_available():
        model = model.cuda()
        for tf32 in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            gpu = top5(model, "cuda", cases)
            print(f"cuda fp32 (tf32 {'on' if tf32 else 'off'}): max |top5 - golden| = "
                  f"{max_diff(gpu, golden):.2e}, vs cpu fp32 {max_diff(gpu, cpu):.2e}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/models/pycode-19m")
