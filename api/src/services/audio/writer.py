"""Incremental encoding of 16-bit mono PCM into the response formats of the speech API.

``StreamingAudioWriter(fmt)`` turns int16 samples into one of ``FORMATS``. Every ``write()``
returns the bytes that are ready at that point, so they can be sent to the client at once;
``finish()`` returns the rest (buffered samples, encoder delay, container trailer). The
concatenation of everything returned is one complete file. Bytes once returned are never
revisited: the muxers see a non-seekable sink, so no header is patched afterwards (WAV and
FLAC therefore declare unknown lengths, and MP3 carries no XING/Info frame).

A file that is complete before it leaves (a ``stream: false`` answer, a download link's file) gets its
WAV sizes set afterwards: ``complete_file`` for bytes in memory, ``wav_size_fields`` for a file on disk.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from typing import Literal, Optional

import av
import numpy as np
from av.container import OutputContainer
from loguru import logger

FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")

CONTENT_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

# fmt -> (muxer, encoder, encoder sample format, muxer options)
# The encoders used (names PyAV's typing knows as audio codecs, so a stream opened with one is audio).
_Codec = Literal["libmp3lame", "libopus", "aac", "flac"]
_CODECS: dict[str, tuple[str, _Codec, str, dict[str, str]]] = {
    # A XING/Info frame written up front without its final counts makes players mis-time the file.
    "mp3": ("mp3", "libmp3lame", "s16p", {"write_xing": "0"}),
    # The Ogg muxer only emits finished pages; its default of 1 s per page would hold back up to
    # a second of audio. 100 ms pages cost about 2 % in size.
    "opus": ("ogg", "libopus", "s16", {"page_duration": "100000"}),
    "aac": ("adts", "aac", "fltp", {}),
    "flac": ("flac", "flac", "s16", {}),
}

# Encoder defaults are uneven at 24 kHz mono (LAME picks 32 kbps, which sounds thin).
_DEFAULT_BITRATE = 64_000

_UNKNOWN_SIZE = 0xFFFFFFFF
_WAV_HEADER_BYTES = 44
_RIFF_SIZE_AT, _DATA_SIZE_AT = 4, 40   # where _wav_header puts the two sizes


def _wav_header(sample_rate: int) -> bytes:
    """A 44-byte PCM WAV header for mono s16le whose RIFF and data sizes are left open-ended."""
    return struct.pack(
        "<4sI4s" "4sIHHIIHH" "4sI",
        b"RIFF", _UNKNOWN_SIZE, b"WAVE",
        b"fmt ", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16,  # PCM, mono, byte rate, align, bits
        b"data", _UNKNOWN_SIZE,
    )


def wav_size_fields(length: int) -> list[tuple[int, bytes]]:
    """For a complete WAV file of ``length`` bytes made by ``StreamingAudioWriter``: each (offset, bytes)
    to write over its header so the RIFF and data sizes are the true ones instead of "unknown". Empty
    when ``length`` is no whole file of ours (shorter than the header) or too long for 32-bit sizes
    (the sizes then stay unknown, which players read as "to the end of the file")."""
    riff_size, data_size = length - 8, length - _WAV_HEADER_BYTES
    if data_size < 0 or riff_size > _UNKNOWN_SIZE:
        return []
    return [(_RIFF_SIZE_AT, struct.pack("<I", riff_size)), (_DATA_SIZE_AT, struct.pack("<I", data_size))]


def complete_file(fmt: str, data: bytes) -> bytes:
    """The whole file ``data`` (everything a writer returned) as it is sent when it is complete before
    it leaves: a WAV with its true sizes; any other format unchanged."""
    if fmt != "wav":
        return data
    patched = bytearray(data)
    for offset, field in wav_size_fields(len(data)):
        patched[offset:offset + len(field)] = field
    return bytes(patched)


class _Sink:
    """Write-only file object: without seek()/tell() PyAV marks the output non-seekable."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def write(self, data) -> int:
        self.buf += data
        return len(data)

    def drain(self) -> bytes:
        out = bytes(self.buf)
        self.buf.clear()
        return out


class StreamingAudioWriter:
    """Encodes 24 kHz mono int16 PCM to one format incrementally: every write() returns the bytes that are ready.

    ``fmt`` is one of ``FORMATS``; anything else raises ValueError. mp3, opus and aac are encoded at
    64 kbps; the lossless formats have no bitrate.

    ``write(pcm)`` takes a 1-D int16 array and may return b"" while the encoder holds samples back.
    ``finish()`` returns the remainder, after which the writer is closed and ``write()`` or
    ``finish()`` raise RuntimeError. With no audio at all, ``finish()`` still yields a decodable
    file: header-only for wav and flac, b"" for pcm, and for mp3, opus and aac (which have no
    valid header-only form) the encoding of a single silent sample.

    ``serial`` (opus): the Ogg stream's serial number, reduced to 31 bits, and the muxer run bit-exact
    (no version strings), so the same samples with the same serial are the same bytes; the speech
    routes derive it from the request's seed. None: a random serial, as libavformat picks by default.
    """

    def __init__(self, fmt: str, sample_rate: int = 24000, *, serial: Optional[int] = None):
        if fmt not in FORMATS:
            raise ValueError(f"unsupported audio format {fmt!r}; expected one of {FORMATS}")
        self.fmt = fmt
        self.sample_rate = sample_rate
        self._finished = False
        self._container: Optional[OutputContainer] = None
        if fmt == "wav":
            self._header = _wav_header(sample_rate)
        if fmt not in _CODECS:
            return

        muxer, codec, self._sample_format, mux_options = _CODECS[fmt]
        self._sink = _Sink()
        # flush_packets: each packet must reach the sink now, not sit in AVIO's 32 KiB buffer.
        container_options = {"flush_packets": "1"}
        if fmt == "opus" and serial is not None:   # bit-exact: the Ogg serial is serial_offset, not random
            container_options.update(fflags="+bitexact", serial_offset=str(serial % 2**31))
        self._container = av.open(
            self._sink, mode="w", format=muxer, options=mux_options, container_options=container_options
        )
        self._stream = self._container.add_stream(codec, rate=sample_rate, layout="mono")
        self._stream.format = self._sample_format
        if fmt != "flac":
            self._stream.codec_context.bit_rate = _DEFAULT_BITRATE
        # Opens the encoder (which fixes frame_size) and writes the container header.
        self._container.start_encoding()
        # The encoders take fixed-size frames, known only once opened: 576 (mp3 at 24 kHz is MPEG-2),
        # 480 (opus, 20 ms), 1024 (aac), 2304 (flac).
        self._frame_size = self._stream.codec_context.frame_size
        self._time_base = Fraction(1, sample_rate)
        self._pending = np.zeros(0, dtype=np.int16)
        self._pts = 0

    def write(self, pcm: np.ndarray) -> bytes:
        self._check_open()
        pcm = np.asarray(pcm)
        if pcm.ndim != 1 or pcm.dtype != np.int16:
            raise ValueError(f"expected 1-D int16 samples, got {pcm.ndim}-D {pcm.dtype}")
        if self.fmt in ("wav", "pcm"):
            data = pcm.astype("<i2", copy=False).tobytes()
            if self.fmt == "wav":
                data, self._header = self._header + data, b""
            return data

        pending = np.concatenate((self._pending, pcm)) if self._pending.size else pcm
        full = len(pending) - len(pending) % self._frame_size
        for start in range(0, full, self._frame_size):
            self._encode(pending[start : start + self._frame_size])
        self._pending = pending[full:].copy()
        return self._sink.drain()

    def finish(self) -> bytes:
        self._check_open()
        self._finished = True
        if self._container is None:
            return self._header if self.fmt == "wav" else b""
        if self._pts == 0 and not self._pending.size and self.fmt != "flac":
            # A header alone is no decodable mp3/ogg/aac file; one silent sample makes a valid one.
            self._pending = np.zeros(1, dtype=np.int16)
        # Every encoder here accepts a short last frame, so the tail needs no padding.
        if self._pending.size:
            self._encode(self._pending)
        # Without the flush the encoder's delayed packets (the end of the audio) would be lost.
        self._container.mux(self._stream.encode(None))
        self._container.close()
        self._container = None
        return self._sink.drain()

    def close(self) -> None:
        """Release the encoder and container without finishing the file (a client that left, an
        error, a ``finish()`` that failed); idempotent, and a no-op after a ``finish()`` that succeeded.
        An output container that is only garbage collected keeps native memory (PyAV), so every
        writer ends in ``finish()`` or here."""
        self._finished = True
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except (av.FFmpegError, OSError, ValueError) as exc:   # the file is being abandoned anyway
                logger.debug("closing an unfinished {} writer: {}", self.fmt, exc)
            self._sink.drain()

    def _encode(self, samples: np.ndarray) -> None:
        assert self._container is not None   # only the encoded formats get here, before finish()/close()
        plane: np.ndarray
        if self._sample_format == "fltp":
            plane = (samples.astype(np.float32) / 32768.0).reshape(1, -1)
        else:
            plane = np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(plane, format=self._sample_format, layout="mono")
        frame.sample_rate = self.sample_rate
        frame.time_base = self._time_base
        frame.pts = self._pts
        self._pts += len(samples)
        self._container.mux(self._stream.encode(frame))

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError("StreamingAudioWriter is finished")
