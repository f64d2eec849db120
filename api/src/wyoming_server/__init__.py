"""The Wyoming server (Home Assistant's protocol for local voice services), beside the HTTP one.

``server.WyomingServer`` listens on WYOMING_PORT in the app's process, started by the lifespan; each
connection is a ``session.WyomingSession`` on the same ``SpeechService`` (models, scheduler, admission)
as the HTTP routes; ``voices.WyomingVoices`` is what ``describe`` answers and how a Wyoming voice becomes
ours; ``mdns`` announces the port on the LAN (WYOMING_ZEROCONF, the optional extra). The protocol
is the ``wyoming`` package's: its event framing and message classes.
"""
