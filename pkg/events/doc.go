// Package events holds the events the functions accept, as plain JSON-tagged structs in the
// manner of aws-lambda-go's events package: Extract (the schedule's, or a manual day or range),
// Lookup (one day's IDs, sent by extract and by lookup to itself) and Alert (a completed day,
// sent by lookup, or the freshness schedule's). Each checks itself, and its error names the
// field that is wrong.
package events
