"""MODEL_DIR's Kokoro v1.0 for the in-process benches: the model as an engine builds it, English text as
the ids the server would give it, and voice packs. Shared by chunk_length, engines --profile, omp_teams
and engine_candidates, so each times the same thing."""
from pathlib import Path


class V1Model:
    def __init__(self, model_dir: Path):
        from api.src.builds import VERSIONS

        self.model_dir = Path(model_dir)
        self.spec = VERSIONS["v1_0"]
        self.config = self.spec.load_config(self.spec.config_path(self.model_dir))

    def ids(self, text: str) -> list[int]:
        """``text`` through the v1.0 G2P (American English), as vocabulary ids (unknown symbols dropped)."""
        vocab = self.config["vocab"]
        phonemes = "".join(t.phonemes + (" " if t.whitespace else "") for t in self.spec.make_g2p("a")(text))
        return [vocab[p] for p in phonemes if p in vocab]

    def pack(self, voice: str = "af_heart"):
        import torch

        return torch.load(self.spec.voices_dir(self.model_dir) / f"{voice}.pt", weights_only=True)

    def build(self, engine: str):
        """A fresh model from the weights, in eval mode, prepared for ``engine`` (``engines.apply_engine``: the
        ``PreparedModel`` that ``forward.forward_batch`` runs; the KModel itself is its ``kmodel``)."""
        from api.src.inference.engines import apply_engine
        from api.src.inference.weights import load_kmodel

        return apply_engine(load_kmodel(self.spec, self.config, self.spec.weights_path(self.model_dir)).eval(), engine)

    @property
    def config_path(self) -> Path:
        return self.spec.config_path(self.model_dir)

    @property
    def weights_path(self) -> Path:
        return self.spec.weights_path(self.model_dir)
