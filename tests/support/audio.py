"""Decode what the server sends, the way a client would: PyAV for containers, numpy for raw PCM."""
import io
from dataclasses import dataclass

import av
import numpy as np

SAMPLE_RATE = 24_000
CODECS = {"mp3": {"mp3", "mp3float"}, "opus": {"opus", "libopus"}, "aac": {"aac"}, "flac": {"flac"},
          "wav": {"pcm_s16le"}}
# Samples an encoder may add or hold back at the edges (priming, frame padding), in seconds.
EDGE_TOLERANCE = {"mp3": 0.08, "opus": 0.04, "aac": 0.08, "flac": 0.001, "wav": 0.001, "pcm": 0.0}


@dataclass
class Decoded:
    codec: str
    sample_rate: int      # the stream's declared input rate (Opus decodes at 48 kHz whatever the input)
    channels: int
    samples: np.ndarray   # float32 mono at `decoded_rate`
    decoded_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.decoded_rate


def decode(data: bytes, fmt: str) -> Decoded:
    if fmt == "pcm":
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768
        return Decoded("pcm_s16le", SAMPLE_RATE, 1, samples, SAMPLE_RATE)
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        codec = stream.codec_context.name
        channels = stream.codec_context.channels
        declared = stream.codec_context.sample_rate
        chunks, decoded_rate = [], None
        for frame in container.decode(stream):
            decoded_rate = frame.sample_rate
            plane = frame.to_ndarray()[0]   # mono: the first row, packed or planar
            chunks.append(plane / 32768 if plane.dtype.kind == "i" else plane)
    if fmt == "opus":
        # Ogg Opus keeps the encoder's input rate in its header; ffmpeg reports 48 kHz for the codec.
        declared = _opus_input_rate(data) or declared
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return Decoded(codec, declared, channels, samples, decoded_rate or declared)


def _opus_input_rate(data: bytes):
    at = data.find(b"OpusHead")
    if at < 0:
        return None
    return int.from_bytes(data[at + 12:at + 16], "little")


FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")


def check_audio(data: bytes, fmt: str, seconds: float) -> Decoded:
    """``data`` decodes as mono ``fmt`` at 24 kHz, ``seconds`` long (within the codec's edge), and not silent."""
    decoded = decode(data, fmt)
    assert decoded.codec in CODECS.get(fmt, {"pcm_s16le"}), decoded.codec
    assert decoded.channels == 1
    assert decoded.sample_rate == SAMPLE_RATE
    assert abs(decoded.duration - seconds) <= EDGE_TOLERANCE[fmt] + 1e-9, (fmt, decoded.duration, seconds)
    assert np.abs(decoded.samples).max() > 0.001, "silence"
    return decoded
