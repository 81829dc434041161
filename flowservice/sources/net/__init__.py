"""The network edge every HTTP source shares, and no source of its own: the address guard and its transport
(``guard.py``), the TLS context (``tls.py``), answers read within a limit of decoded bytes (``bodies.py``), the
adaptive concurrency limiter (``limiter.py``) and the retry policy (``retry.py``). It imports no source."""
