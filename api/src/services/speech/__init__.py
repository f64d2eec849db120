"""Speech requests: validated and planned (``service``), voiced (``voicing``), spoken and joined (``job``)."""
from .job import AudioPiece, SpeechJob, Usage, to_int16
from .service import SpeechService, join_policy_from, limits_from

__all__ = ["AudioPiece", "SpeechJob", "SpeechService", "Usage", "join_policy_from", "limits_from", "to_int16"]
