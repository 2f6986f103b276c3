package postgres

// AdvisoryKey exposes the migration lock key to the external tests.
var AdvisoryKey = advisoryKey

// ListQuery is the statement ListByUser runs, for the query-plan tests.
func ListQuery(p *Persister) string { return p.qList }

// MaxListedMeta is the longest Meta kept in the user index.
const MaxListedMeta = maxListedMeta
