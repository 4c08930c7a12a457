package lookup

// Result says what one invocation did.
type Result struct {
	// Day is the event's day.
	Day string `json:"day"`
	// FirstPart is the number of the first part this invocation wrote.
	FirstPart int `json:"first_part"`
	// Parts is the number of parts this invocation wrote.
	Parts int `json:"parts"`
	// IDs is the number of query IDs in those parts.
	IDs int `json:"ids"`
	// UnchangedParts is the number of those parts not written again because the earlier run's
	// part held the same bytes.
	UnchangedParts int `json:"unchanged_parts,omitempty"`
	// LookupErrors is the number of those IDs written with a lookup error.
	LookupErrors int `json:"lookup_errors"`
	// OtherAccount is the number of those lookup errors that are queries of another account,
	// not looked up because no role to assume there is configured (LookupErrorOtherAccount).
	OtherAccount int `json:"other_account,omitempty"`
	// InvalidPlace is the number of those lookup errors that are queries whose account or
	// region in the CSV is not valid (LookupErrorInvalidAccount, LookupErrorInvalidRegion).
	InvalidPlace int `json:"invalid_place,omitempty"`
	// BadRecords is the number of CloudTrail records that the extraction left out of the day
	// as bad (see ColumnBadRecord); set by the invocation that finishes the day.
	BadRecords int `json:"bad_records,omitempty"`
	// Unprocessed counts the IDs Athena returned unprocessed with a transient code, once per time.
	Unprocessed int64 `json:"unprocessed"`
	// Continued is true when the rest of the day was handed to a new invocation.
	Continued bool `json:"continued"`
	// NextPart and NextOffset are where that invocation starts.
	NextPart   int   `json:"next_part,omitempty"`
	NextOffset int64 `json:"next_offset,omitempty"`
	// Alerted is true when the alert function was invoked for the completed day.
	Alerted bool `json:"alerted,omitempty"`
	// StaleParts is the number of parts deleted that an earlier run with more IDs had left.
	StaleParts int `json:"stale_parts,omitempty"`
	// Superseded is true when the object changed since the day's first invocation read it: a
	// newer run of the day owns the parts, so this one stopped writing (Parts says how many it
	// wrote before it noticed) and deleted nothing.
	Superseded bool `json:"superseded,omitempty"`
}
