"""One module per screen group; each has a ``router`` of routes under ``/ui``."""
