"""The background service (`serve`) and the passes it runs: poll, the watchdog, auto-
dispatch."""
