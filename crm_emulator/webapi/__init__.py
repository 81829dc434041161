"""The Dataverse Web API v9.2 resources, a module per group of handlers; :mod:`.router` sends each request on."""
