"""accelo-kit's Fivetran connector: the same sync engine as the CLI, with Fivetran as the destination.

`fivetran debug --configuration configuration.json` runs it locally; `make fivetran-bundle` then `fivetran deploy`
from build/fivetran ships it. The configuration keys are the CLI's (docs/configuration.md), all strings.
What to fetch and how lives in `accelo_kit`; this file only wires it to the SDK.
"""

from __future__ import annotations

from typing import Any

from fivetran_connector_sdk import Connector
from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from accelo_kit.client import AcceloClient
from accelo_kit.destinations.fivetran import (
    FivetranDestination,
    LogProgress,
    fivetran_schema,
    settings_from_configuration,
)
from accelo_kit.sync import sync


def schema(configuration: dict[str, Any]) -> list[dict[str, Any]]:
    """One typed table per selected entity, from the registry (a bad configuration fails here already)."""
    return fivetran_schema(settings_from_configuration(configuration).entities)


def update(configuration: dict[str, Any], state: dict[str, Any]) -> None:
    """Bring the tables up to date. Any failure raises, so Fivetran marks the sync failed and keeps the last
    checkpoint; a spent budget with a far reset checkpoints and returns (with a warning) instead of sleeping."""
    settings = settings_from_configuration(configuration)  # before any request
    progress = LogProgress(log)
    destination = FivetranDestination(op, state, log)
    log.info(f"syncing {', '.join(settings.entities)} from {settings.target} with {settings.threads} threads, "
             f"budget policy {settings.budget_policy}")
    with AcceloClient(settings) as client:  # the sync hands the client's waits to progress.waiting
        report = sync(client, destination, settings.entities, progress=progress)
    log.info(report.budget_line())  # what the run left to the deployment's other integrations


connector = Connector(update=update, schema=schema)

if __name__ == "__main__":  # `python connector.py` runs like `fivetran debug` with ./configuration.json
    import json

    with open("configuration.json") as file:
        connector.debug(configuration=json.load(file))
