"""The warehouse: connection targets, the embedded server, and versioned migrations."""
