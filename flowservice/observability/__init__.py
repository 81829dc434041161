"""What an operator watches: Prometheus metrics (``metrics``), the figures read from the database at scrape
time (``database``), metrics shared by the processes of one server (``processes``) and readiness
(``readiness``). The services report through ``ports.RunMetrics``; sources through ``sources.net.observe``.

``processes`` imports no Prometheus code: the multi-process mode must be chosen before the first metric exists."""
