"""Where synced rows go: memory (tests, notebooks), duckdb (the CLI's and the notebooks' file) and fivetran (the
connector). Each upserts by primary key and commits rows and state together; the protocols they implement live in
accelo_kit.sync.destination. Import the submodule you need: each pulls in only its own dependencies."""
