"""Deployment recipes beyond one machine: Ray Serve (``deploy/ray``), Modal, Helm. See deploy/README.md."""
