package events

import "time"

// LookupManifest is what the lookup function has written of one day, kept at
// athenasql.LookupManifestKey. The lookup writes it last in each invocation, so that a crash
// leaves the previous one in place; a continuation must match it (see Binds), and a day is
// complete when Complete is true for the ETag its athena_queries object has now (CompleteFor).
type LookupManifest struct {
	// Day is the UTC day, YYYY-MM-DD.
	Day string `json:"day"`
	// Key and ETag are the day's athena_queries object and the version of it that was read.
	Key  string `json:"key"`
	ETag string `json:"etag"`
	// From is where the invocation that wrote the manifest started, and Next where the one it
	// handed over to starts (nil once the day is complete).
	From Position  `json:"from"`
	Next *Position `json:"next,omitempty"`
	// Before counts what was written before From, Done what was written before Next (or in
	// all, once complete): a retry of the invocation that wrote the manifest starts again
	// from Before.
	Before LookupTotals `json:"before"`
	Done   LookupTotals `json:"done"`
	// Complete is true when every part of the day, for ETag, is written.
	Complete bool `json:"complete"`
	// Written is when the manifest was written; the only field that differs between two runs
	// over the same object.
	Written time.Time `json:"written"`
}

// Position is where an invocation of the lookup starts: a part, the byte offset of its first
// record, and the first query ID of the part, read at that offset.
type Position struct {
	Part    int    `json:"part"`
	Offset  int64  `json:"offset"`
	FirstID string `json:"first_id,omitempty"`
}

// LookupTotals count what the lookup wrote of a day.
type LookupTotals struct {
	Parts        int `json:"parts"`
	IDs          int `json:"ids"`
	LookupErrors int `json:"lookup_errors"`
	// InvalidPlace counts the IDs written with an invalid account or region.
	InvalidPlace int `json:"invalid_place,omitempty"`
	// BadRecords counts the CloudTrail records that the extraction left out of the day as bad
	// (not events, or unusable); the lookup counts them when it finishes the day.
	BadRecords int `json:"bad_records,omitempty"`
}

// Add returns the sum of t and o.
func (t LookupTotals) Add(o LookupTotals) LookupTotals {
	return LookupTotals{
		Parts:        t.Parts + o.Parts,
		IDs:          t.IDs + o.IDs,
		LookupErrors: t.LookupErrors + o.LookupErrors,
		InvalidPlace: t.InvalidPlace + o.InvalidPlace,
		BadRecords:   t.BadRecords + o.BadRecords,
	}
}

// CompleteFor reports whether the manifest says that the day is complete for the version etag of
// its athena_queries object.
func (m LookupManifest) CompleteFor(etag string) bool {
	return m.Complete && etag != "" && m.ETag == etag
}

// Binds returns the totals written before e's part when e continues the day the manifest
// describes: e must start where the manifest's invocation handed over (Next), or where it started
// itself (From: Lambda retrying it), on the same version of the object. ok is false otherwise.
func (m LookupManifest) Binds(e Lookup) (before LookupTotals, ok bool) {
	if m.Day != e.Day || m.Key != e.Key || m.ETag == "" || m.ETag != e.ETag {
		return LookupTotals{}, false
	}
	at := Position{Part: e.Part, Offset: e.Offset, FirstID: e.FirstID}
	switch {
	case m.Next != nil && *m.Next == at:
		return m.Done, true
	case m.From == at:
		return m.Before, true
	}
	return LookupTotals{}, false
}
