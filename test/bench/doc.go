// Package bench measures what ships: the lookup handler, with its shipped defaults, against the
// local Athena stand-in over HTTP through the real SDK client, at Athena's default quota and a
// raised one, with and without faults, beside a co-tenant, and for a million IDs; then the next
// day's runs (the -daily cases), which start from the quotas the first day's run found and
// remembered in the state prefix, each on a stand-in whose quota's bucket is full again. `make
// bench` runs it; each case prints one line
//
//	bench: <case> fraction=<IDs/s ÷ (quota × 50)> lost=<n> dup=<n> calls_ratio=<r> heap_mb=<m>
//
// and, once all have run, a table of the same figures, with our rate beside the co-tenant and
// the co-tenant's throttled calls, with us and alone (10 s on a stand-in of its own), which
// docs/design.md ("Throughput") records.
package bench
