"""Stand-ins for the model backend in scheduler tests."""
import torch


class SeededByGlobalRng:
    """Test backends implement ``infer``; the worker's one-chunk path calls ``infer_seeded``."""

    def infer_seeded(self, input_ids, ref_s, speed, seed):
        torch.manual_seed(seed)
        return self.infer(input_ids, ref_s, speed)
