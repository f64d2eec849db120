"""StreamingAudioWriter: every format decodes back to the audio that went in, streamed piecewise."""

import io
import struct

import av
import numpy as np
import pytest

from api.src.services.audio.writer import CONTENT_TYPES, FORMATS, StreamingAudioWriter, complete_file, wav_size_fields

SR = 24000
CONTAINER_FORMATS = ("mp3", "opus", "aac", "flac", "wav")
# Uneven on purpose: sub-frame pieces, multi-frame pieces, empty and one-sample writes.
PIECES = (1000, 7000, 333, 0, 4801, 1, 12000)


def sine(n: int, freq: float = 440.0) -> np.ndarray:
    return np.round(np.sin(2 * np.pi * freq * np.arange(n) / SR) * 16000).astype(np.int16)


def encode(fmt: str, pcm: np.ndarray, **kwargs) -> tuple[bytes, bytes]:
    """Feed pcm in PIECES-sized writes; return (bytes from write() calls, bytes from finish())."""
    writer = StreamingAudioWriter(fmt, **kwargs)
    streamed, start, i = [], 0, 0
    while start < len(pcm):
        end = start + PIECES[i % len(PIECES)]
        streamed.append(writer.write(pcm[start:end]))
        start, i = end, i + 1
    return b"".join(streamed), writer.finish()


def decode(data: bytes):
    """Return (codec name, channels, stream sample rate, mono samples as float in [-1, 1])."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        chunks, rates = [], set()
        for frame in container.decode(stream):
            rates.add(frame.sample_rate)
            chunks.append(frame.to_ndarray().reshape(-1))
        name, channels, rate = ctx.name, ctx.layout.nb_channels, ctx.sample_rate
    assert rates <= {rate}
    samples = np.concatenate(chunks) if chunks else np.zeros(0)
    if samples.dtype == np.int16:
        samples = samples / 32768.0
    return name, channels, rate, samples


def tone_extent(samples: np.ndarray, rate: int) -> float:
    """Seconds from the first to the last loud sample: blind to encoder priming and padding."""
    loud = np.flatnonzero(np.abs(samples) > 0.1 * np.abs(samples).max())
    return (loud[-1] - loud[0] + 1) / rate


# fmt -> (codec names, decoded rate, lowest and highest decoded duration for 2.3 s of input).
# mp3 and aac carry no priming/padding info in these containers, so the decoder returns the
# encoder delay (~46 ms and 1024 samples) plus the last frame's padding; Ogg Opus trims both,
# and ffmpeg always decodes Opus at 48 kHz.
EXPECTED = {
    "mp3": ({"mp3", "mp3float"}, 24000, 2.3, 2.36),
    "opus": ({"opus"}, 48000, 2.299, 2.301),
    "aac": ({"aac"}, 24000, 2.3, 2.36),
    "flac": ({"flac"}, 24000, 2.3, 2.3),
    "wav": ({"pcm_s16le"}, 24000, 2.3, 2.3),
}


@pytest.mark.parametrize("fmt", CONTAINER_FORMATS)
def test_round_trip_codec_rate_channels_duration(fmt):
    pcm = sine(round(2.3 * SR))
    streamed, tail = encode(fmt, pcm)
    name, channels, rate, samples = decode(streamed + tail)

    names, expected_rate, shortest, longest = EXPECTED[fmt]
    assert name in names
    assert channels == 1
    assert rate == expected_rate
    assert shortest <= len(samples) / rate <= longest


@pytest.mark.parametrize("fmt", ["flac", "wav"])
def test_lossless_formats_return_the_exact_samples(fmt):
    pcm = sine(round(2.3 * SR))
    streamed, tail = encode(fmt, pcm)
    _, _, _, samples = decode(streamed + tail)
    np.testing.assert_array_equal(np.round(samples * 32768).astype(np.int16), pcm)


def test_pcm_is_raw_s16le():
    pcm = sine(round(2.3 * SR))
    streamed, tail = encode("pcm", pcm)
    assert tail == b""
    assert streamed == pcm.astype("<i2").tobytes()


def test_opus_header_declares_24khz_mono_input():
    streamed, tail = encode("opus", sine(SR))
    data = streamed + tail
    head = data.index(b"OpusHead")
    channels, _pre_skip, input_rate = struct.unpack_from("<BHI", data, head + 9)
    assert (channels, input_rate) == (1, 24000)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
def test_tail_is_not_lost(fmt):
    # 2.3 s + 400 samples is no multiple of any frame size (576, 480, 1024, 2304), so a short
    # last frame goes in at finish(); a dropped remainder or unflushed encoder shortens the tone.
    n = round(2.3 * SR) + 400
    streamed, tail = encode(fmt, sine(n))
    _, _, rate, samples = decode(streamed + tail)
    assert tone_extent(samples, rate) == pytest.approx(n / SR, abs=0.002)


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_is_streamed_before_finish(fmt):
    # Bytes returned by write() alone must already decode to nearly all that was written:
    # only the partial frame, the encoder delay and (Ogg) one 100 ms page may be held back.
    n = 2 * SR
    streamed, _ = encode(fmt, sine(n))
    if fmt == "pcm":
        assert len(streamed) == 2 * n
        return
    _, _, rate, samples = decode(streamed)
    assert 2.0 - 0.15 <= len(samples) / rate <= 2.0 + 0.07


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_or_finish_after_finish_raises(fmt):
    writer = StreamingAudioWriter(fmt)
    writer.write(sine(1000))
    writer.finish()
    with pytest.raises(RuntimeError):
        writer.write(sine(10))
    with pytest.raises(RuntimeError):
        writer.finish()


@pytest.mark.parametrize("fmt", ["ogg", "m4a", "MP3", ""])
def test_unknown_format_raises(fmt):
    with pytest.raises(ValueError):
        StreamingAudioWriter(fmt)


@pytest.mark.parametrize("bad", [np.zeros(10, np.float32), np.zeros((2, 10), np.int16)])
def test_rejects_anything_but_1d_int16(bad):
    writer = StreamingAudioWriter("wav")
    with pytest.raises(ValueError):
        writer.write(bad)


def test_wav_header_is_streaming_24khz_mono_16bit():
    pcm = sine(5000)
    streamed, tail = encode("wav", pcm)
    data = streamed + tail
    fields = struct.unpack("<4sI4s4sIHHIIHH4sI", data[:44])
    assert fields == (
        b"RIFF", 0xFFFFFFFF, b"WAVE",
        b"fmt ", 16, 1, 1, 24000, 48000, 2, 16,
        b"data", 0xFFFFFFFF,
    )
    assert data[44:] == pcm.astype("<i2").tobytes()  # header once, then the samples


def test_a_complete_wav_gets_its_true_sizes():
    pcm = sine(5000)
    data = b"".join(encode("wav", pcm))
    whole = complete_file("wav", data)
    assert struct.unpack("<I", whole[4:8])[0] == len(data) - 8
    assert struct.unpack("<I", whole[40:44])[0] == len(pcm) * 2
    assert whole[8:40] == data[8:40] and whole[44:] == data[44:]
    assert complete_file("wav", b"RIFF") == b"RIFF"   # no whole file of ours: left alone
    assert wav_size_fields(2**32 + 100) == []          # too long for 32-bit sizes: they stay unknown
    assert complete_file("flac", data) == data


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
def test_muxer_sees_a_non_seekable_output(fmt, monkeypatch):
    # A seekable output lets muxers go back and patch headers (FLAC rewrites STREAMINFO)
    # in bytes that have already been sent. PyAV seeks only with seek() and tell() present.
    outputs = []
    real_open = av.open

    def spy_open(file, *args, **kwargs):
        outputs.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", spy_open)
    StreamingAudioWriter(fmt).finish()
    (output,) = outputs
    seekable = getattr(output, "seekable", lambda: True)()
    assert not (hasattr(output, "seek") and hasattr(output, "tell") and seekable)


def test_mp3_has_no_xing_or_info_frame():
    streamed, tail = encode("mp3", sine(SR))
    data = streamed + tail
    assert b"Xing" not in data and b"Info" not in data


@pytest.mark.parametrize("fmt", FORMATS)
def test_finish_without_audio_gives_a_valid_file(fmt):
    writer = StreamingAudioWriter(fmt)
    data = writer.write(np.zeros(0, np.int16)) + writer.finish()
    if fmt == "pcm":
        assert data == b""
        return
    _, channels, _, samples = decode(data)
    assert channels == 1
    assert not samples.any()  # nothing but silence, at most an encoder frame or two
    if fmt in ("flac", "wav"):
        assert len(samples) == 0


def test_content_types_cover_every_format():
    assert set(CONTENT_TYPES) == set(FORMATS)
    assert CONTENT_TYPES["mp3"] == "audio/mpeg" and CONTENT_TYPES["opus"] == "audio/ogg"


@pytest.mark.parametrize("fmt", FORMATS)
def test_close_abandons_an_unfinished_file(fmt):
    writer = StreamingAudioWriter(fmt)
    writer.write(sine(3000))
    writer.close()
    writer.close()   # idempotent
    with pytest.raises(RuntimeError):
        writer.write(sine(10))
    with pytest.raises(RuntimeError):
        writer.finish()
    done = StreamingAudioWriter(fmt)
    data = done.write(sine(24000)) + done.finish()
    done.close()     # after finish: nothing to release
    if fmt != "pcm":
        assert decode(data)[3].size > 0


def test_a_response_cut_short_closes_its_encoder(monkeypatch):
    """The client leaves after the first piece: the encoder is released then, not at garbage collection."""
    import asyncio
    from types import SimpleNamespace

    from api.src.services.audio import streaming

    writers = []

    class Recording(StreamingAudioWriter):
        def __init__(self, fmt, **kwargs):
            super().__init__(fmt, **kwargs)
            self.closed = False
            writers.append(self)

        def close(self):
            self.closed = True
            super().close()

    class Job:
        seed = 7

        async def pieces(self):
            for _ in range(5):
                yield SimpleNamespace(pcm=sine(4800), words=[])

    monkeypatch.setattr(streaming, "StreamingAudioWriter", Recording)

    async def main():
        pieces = streaming.encoded_pieces(Job(), "mp3")
        await pieces.__anext__()
        assert not writers[0].closed
        await pieces.aclose()

    asyncio.run(main())
    assert writers[0].closed


def test_close_after_a_failed_finish_still_releases_the_container():
    writer = StreamingAudioWriter("mp3")
    writer.write(sine(3000))
    container, closes = writer._container, []

    class Failing:
        def mux(self, packets):
            raise av.FFmpegError(1, "injected muxer failure")

        def close(self):
            closes.append(True)
            container.close()

    writer._container = Failing()
    with pytest.raises(av.FFmpegError):
        writer.finish()
    writer.close()
    writer.close()
    assert closes == [True]
