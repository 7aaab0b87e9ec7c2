"""The dev loop: the Tiltfile as the real Tilt loads it, its scripts, sync and reload, what an edit made stale, and
debug runs."""
