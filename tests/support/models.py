"""The voices the tiny random test models are written with (tests/conftest.py's model fixtures), and
layouts made from them."""
import shutil

TEST_VOICES = ("af_heart", "af_bella", "af_sky", "af_alloy", "af_nova", "af_sarah", "am_adam", "am_echo",
               "am_onyx", "bf_emma", "bm_fable", "bm_george")
V0_19_TEST_VOICES = ("af", "af_bella", "af_sarah", "af_nicole", "am_adam", "am_michael", "bf_emma", "bm_george")


def make_files(root):
    """Placeholder files where MODEL_DIR/v1_0 keeps its config, weights and one voice (contents unread)."""
    folder = root / "v1_0"
    (folder / "voices").mkdir(parents=True)
    for name in ("config.json", "kokoro-v1_0.pth", "voices/af_heart.pt"):
        (folder / name).write_bytes(b"x")


def private_voices(model_dir, root):
    """``root``/v1_0 with a copy of ``model_dir``'s v1.0 voices folder and links to its other files: a
    MODEL_DIR whose voices a test may change (save, plant files) without touching the shared one."""
    (root / "v1_0").mkdir()
    for item in (model_dir / "v1_0").iterdir():
        if item.name == "voices":
            shutil.copytree(item, root / "v1_0" / "voices")
        else:
            (root / "v1_0" / item.name).symlink_to(item)
    return root
