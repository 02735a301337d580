"""CPU tests of the Python tools beside the benchmark: bench/pytorch_peer.py (the grid, FLOP and
byte counts, its CLI) and results/make_tables.py (same-GPU ratios with --peer; bad input refused).
No torch or GPU needed.

Run: python3 -m unittest -v test_python_tools   (from flash_attention/tests)
"""
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import pytorch_peer  # noqa: E402

MAKE_TABLES = os.path.join(HERE, "..", "results", "make_tables.py")


class PeerGrid(unittest.TestCase):
    def test_prefill_grid_is_the_anchor_grid(self):
        grid = list(pytorch_peer.prefill_grid())
        self.assertEqual(len(grid), 16)  # 2 head dims x 2 masks x 4 lengths
        for p in grid:
            self.assertEqual(p["batch"] * p["seqlen"], 16384)  # 16k tokens per batch
            self.assertEqual(p["heads"] * p["head_dim"], 2048)  # hidden 2048
        self.assertEqual({p["seqlen"] for p in grid}, {512, 2048, 8192, 16384})

    def test_flops_are_counted_as_flash_attention_does(self):
        # d 128, 8k: batch 2, 16 heads; 4 B H S^2 D, halved under the causal mask.
        full = dict(head_dim=128, causal=False, seqlen=8192, batch=2, heads=16)
        self.assertEqual(pytorch_peer.forward_flops(full), 4 * 2 * 16 * 8192**2 * 128)
        self.assertEqual(pytorch_peer.forward_flops(dict(full, causal=True)),
                         pytorch_peer.forward_flops(full) / 2)

    def test_decode_bytes_are_k_plus_v(self):
        # 4k tokens x 8 kv heads x 128 dims x 2 bytes, for K and for V: 16 MiB.
        self.assertEqual(pytorch_peer.decode_kv_bytes(4096), 16 * 2**20)

    def test_dry_run_prints_the_grid_without_torch(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(pytorch_peer.main(["--dry-run", "--suite", "prefill"]), 0)
        grid = json.loads(out.getvalue())
        self.assertEqual(len(grid["prefill"]), 16)
        self.assertEqual(grid["decode"], [])
        for p in grid["prefill"]:
            self.assertEqual(p["bwd_flops"], 2.5 * p["fwd_flops"])

    def test_bad_options_are_refused(self):
        for argv in (["--iters", "0"], ["--warmup", "-1"], ["--suite", "train"]):
            with self.subTest(argv=argv), contextlib.redirect_stderr(io.StringIO()):
                with self.assertRaises(SystemExit) as e:
                    pytorch_peer.main(argv + ["--dry-run"])
                self.assertEqual(e.exception.code, 2)


class SameGpuTables(unittest.TestCase):
    def test_ratio_is_against_pytorchs_best_run(self):
        bench = {"meta": {"gpu": "G"}, "ceilings": {"copy_gbps": 1000.0, "gemm_bf16_tflops": 700.0},
                 "results": [
                     {"case": "f", "check_ok": True, "tflops": 330.0,
                      "params": {"kernel": "fa2_fwd", "head_dim": 128, "causal": False, "seqlen": 8192}},
                     {"case": "b", "check_ok": True, "tflops": 240.0,
                      "params": {"kernel": "fa2_bwd", "head_dim": 128, "causal": False, "seqlen": 8192}},
                     {"case": "d", "check_ok": True, "tflops": 1.0, "gbps": 500.0,
                      "time_ms": {"median": 1.0},
                      "extra": {"fraction_of_copy_bw": 0.5},
                      "params": {"kernel": "flash_decode_pdl", "context": 4096}}]}
        point = {"head_dim": 128, "causal": False, "seqlen": 8192, "batch": 2, "heads": 16}
        peers = [{"meta": {"gpu": "G"}, "decode": [],
                  "prefill": [dict(point, backend="flash", fwd_tflops=f, bwd_tflops=b)]}
                 for f, b in ((300.0, 200.0), (275.0, 300.0))]
        peers[0]["decode"] = [{"context": 4096, "backend": "cudnn", "fraction_of_copy_bw": 0.25}]
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for name, obj in [("bench", bench), ("peer1", peers[0]), ("peer2", peers[1])]:
                paths.append(os.path.join(tmp, name + ".json"))
                with open(paths[-1], "w") as f:
                    json.dump(obj, f)
            out = subprocess.run([sys.executable, MAKE_TABLES, paths[0], "--peer"] + paths[1:],
                                 check=True, capture_output=True, text=True).stdout
        row = next(l for l in out.splitlines() if l.startswith("| 128 | False | 8192 | 330"))
        # forward 330 / best 300 = 1.10; backward 240 / best 300 = 0.80; no cuDNN prefill run: "-"
        self.assertEqual(row, "| 128 | False | 8192 | 330 | 300 | 1.10 | - | 240 | 300 | 0.80 | - |")
        self.assertIn("| 4096 | 50% | - | 25% |", out)


class MakeTablesRefusesBadInput(unittest.TestCase):
    def run_tool(self, *argv):
        return subprocess.run([sys.executable, MAKE_TABLES, *argv], capture_output=True, text=True)

    def test_each_bad_file_is_named_with_its_problem(self):
        with tempfile.TemporaryDirectory() as tmp:
            missing = os.path.join(tmp, "missing.json")
            corrupt = os.path.join(tmp, "corrupt.json")
            peer = os.path.join(tmp, "peer.json")
            with open(corrupt, "w") as f:
                f.write('{"results": [')
            with open(peer, "w") as f:
                json.dump({"meta": {"gpu": "G"}, "prefill": [], "decode": []}, f)
            cases = [((missing,), "cannot read " + missing),
                     ((corrupt,), corrupt + " is not JSON"),
                     ((peer,), peer + ' is not bench output (no "results")')]
            for argv, message in cases:
                with self.subTest(argv=argv):
                    out = self.run_tool(*argv)
                    self.assertEqual(out.returncode, 2)
                    self.assertIn(message, out.stderr)
                    self.assertNotIn("Traceback", out.stderr)

    def test_no_run_is_a_usage_error(self):
        out = self.run_tool("--peer", "p.json")
        self.assertEqual(out.returncode, 2)
        self.assertIn("usage:", out.stderr)


if __name__ == "__main__":
    unittest.main()
