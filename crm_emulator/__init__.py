"""A local Microsoft Dynamics 365 / Dataverse org for offline development and tests.

It serves Entra ID token endpoints and the Dataverse Web API v9.2 from one process, with deterministic data
generated from a seed, change tracking, and a fault plan. It is written from Microsoft's public documentation
and never imports :mod:`flowservice` (the product must talk to it over HTTP like it would to a real org).
"""

__version__ = "0.1.0"
