"""The voices the tiny random test models are written with (tests/conftest.py's model fixtures)."""
TEST_VOICES = ("af_heart", "af_bella", "af_sky", "af_alloy", "af_nova", "af_sarah", "am_adam", "am_echo",
               "am_onyx", "bf_emma", "bm_fable", "bm_george")
V0_19_TEST_VOICES = ("af", "af_bella", "af_sarah", "af_nicole", "am_adam", "am_michael", "bf_emma", "bm_george")


def make_files(root):
    """Placeholder files where MODEL_DIR/v1_0 keeps its config, weights and one voice (contents unread)."""
    folder = root / "v1_0"
    (folder / "voices").mkdir(parents=True)
    for name in ("config.json", "kokoro-v1_0.pth", "voices/af_heart.pt"):
        (folder / name).write_bytes(b"x")
