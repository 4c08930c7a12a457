// Package events holds the events the two functions accept, as plain JSON-tagged structs in the
// manner of aws-lambda-go's events package: Extract (the schedule's, or a manual day or range)
// and Lookup (one day's IDs, sent by extract and by lookup to itself). Each checks itself, and
// its error names the field that is wrong.
package events
