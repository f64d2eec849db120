"""Ray Serve deployment of the Kokoro server: ``serve run deploy.ray.app:build_app`` (see deploy/README.md)."""
