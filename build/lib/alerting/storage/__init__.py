"""Storage: the schema, the engine factory and the queries; the database is the source of truth."""
