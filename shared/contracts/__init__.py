"""Published contracts, generated from the code that implements them.

* `openapi`: completes each service's FastAPI-generated OpenAPI 3.1 document (bearer JWT security,
  problem+json errors for every status a route can answer) - installed by `shared.service.create_app`.
* `asyncapi`: the AsyncAPI 3.0 document of the topics (`docs/asyncapi.yaml`), one message per event
  type and schema version, and the check that an event class did not change in a breaking way.
* `compatibility`, `event_schemas`, `catalogue`: the pieces of the latter.

`python -m shared.contracts asyncapi` regenerates the committed document (refusing breaking changes);
`--check` only compares. `python -m shared.contracts openapi <service>` prints a service's OpenAPI.
"""
