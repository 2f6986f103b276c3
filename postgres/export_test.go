package postgres

// AdvisoryKey exposes the migration lock key to the external tests.
var AdvisoryKey = advisoryKey
