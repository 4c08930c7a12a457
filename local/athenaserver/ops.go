package athenaserver

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/local/sqlengine"
	"github.com/athenausage/athena-usage/pkg/s3uri"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// API limits, from Athena's API model.
const (
	maxQueryLength   = 262144
	minTokenLength   = 32
	maxTokenLength   = 128
	maxBatchIDs      = 50   // BatchGetQueryExecution takes 1 to 50 IDs
	maxListResults   = 50   // ListQueryExecutions returns at most 50 IDs a page
	maxResultsPage   = 1000 // GetQueryResults returns at most 1000 rows a page
	maxIDLength      = 128
	catalogHive      = "hive"
	reasonCancelled  = "Query cancelled by user"
	reasonShutDown   = "The Athena stand-in was shut down while the query was running."
	errTypeEngine    = 200 // "Query engine had an internal error"
	errTypeS3Results = 401 // "Failed to write query results to Amazon S3"
)

func (s *Server) startQueryExecution(_ context.Context, body []byte) (any, *apiError) {
	var in startInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	query := aws.ToString(in.QueryString)
	switch {
	case in.QueryString == nil:
		return nil, invalidRequest("QueryString is required")
	case strings.TrimSpace(query) == "":
		return nil, invalidRequest("QueryString is empty")
	case len(query) > maxQueryLength:
		return nil, invalidRequest("QueryString is %d bytes long; the maximum is %d", len(query), maxQueryLength)
	}
	token := aws.ToString(in.ClientRequestToken)
	if in.ClientRequestToken != nil && (len(token) < minTokenLength || len(token) > maxTokenLength) {
		return nil, invalidRequest("ClientRequestToken must be %d to %d characters long, not %d", minTokenLength, maxTokenLength, len(token))
	}
	wgName := aws.ToString(in.WorkGroup)
	if wgName == "" {
		wgName = DefaultWorkgroup
	}
	s.mu.Lock()
	wg, ok := s.workgroups[wgName]
	s.mu.Unlock()
	if !ok {
		return nil, invalidRequest("WorkGroup %s is not found.", wgName)
	}
	location := wg.OutputLocation
	if c := in.ResultConfiguration; c != nil && aws.ToString(c.OutputLocation) != "" && !(wg.Enforce && wg.OutputLocation != "") {
		location = aws.ToString(c.OutputLocation)
	}
	if location == "" {
		return nil, invalidRequest("No output location provided. An output location is required either through the Workgroup result configuration setting or as an API input.")
	}
	if _, _, err := s3uri.Parse(location); err != nil {
		return nil, invalidRequest("ResultConfiguration.OutputLocation: %v", err)
	}
	var database string
	var qctx *types.QueryExecutionContext
	if c := in.QueryExecutionContext; c != nil {
		database = aws.ToString(c.Database)
		qctx = &types.QueryExecutionContext{Database: c.Database, Catalog: c.Catalog}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if token != "" {
		if id, ok := s.tokens[token]; ok {
			if e, ok, _ := s.exec(id); ok && aws.ToString(e.q.Query) != query {
				return nil, invalidRequest("Idempotent parameters do not match: ClientRequestToken %s was used with a different QueryString", token)
			}
			return startOutput{QueryExecutionID: id}, nil
		}
	}
	id := newID()
	now := s.opts.Now()
	stmt, sub := classify(query)
	e := &execution{
		token: token,
		ran:   true,
		q: types.QueryExecution{
			QueryExecutionId:      aws.String(id),
			Query:                 aws.String(query),
			StatementType:         types.StatementType(stmt),
			SubstatementType:      aws.String(sub),
			QueryExecutionContext: qctx,
			ResultConfiguration:   &types.ResultConfiguration{OutputLocation: aws.String(resultLocation(location, id, stmt))},
			WorkGroup:             aws.String(wgName),
			ExecutionParameters:   in.ExecutionParameters,
			EngineVersion:         &types.EngineVersion{SelectedEngineVersion: aws.String(EngineVersion), EffectiveEngineVersion: aws.String(EngineVersion)},
			Status:                &types.QueryExecutionStatus{State: types.QueryExecutionStateQueued, SubmissionDateTime: &now},
			Statistics:            &types.QueryExecutionStatistics{},
		},
	}
	if err := s.save(e); err != nil {
		return nil, internalError(err.Error())
	}
	ctx, cancel := context.WithCancel(s.ctx)
	e.cancel = cancel
	s.execs[id] = e
	if token != "" {
		s.tokens[token] = id
	}
	s.wg.Add(1)
	go s.run(ctx, id, database, query, location)
	return startOutput{QueryExecutionID: id}, nil
}

func (s *Server) getQueryExecution(_ context.Context, body []byte) (any, *apiError) {
	var in idInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	id, aerr := requireID(in.QueryExecutionID)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok, err := s.exec(id)
	if err != nil {
		return nil, internalError(err.Error())
	}
	if !ok {
		return nil, notFound(id)
	}
	return getOutput{QueryExecution: wireExecution(e.q)}, nil
}

func (s *Server) batchGetQueryExecution(_ context.Context, body []byte) (any, *apiError) {
	var in batchGetInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	if n := len(in.QueryExecutionIDs); n == 0 || n > maxBatchIDs {
		return nil, invalidRequest("QueryExecutionIds has %d IDs; it takes 1 to %d", n, maxBatchIDs)
	}
	out := batchGetOutput{QueryExecutions: []wireExecution{}, UnprocessedQueryExecutionIDs: []wireUnprocessed{}}
	// The API reference says nothing of an ID repeated in one call (only 1 to 50 IDs of 1 to
	// 128 non-space characters), so each occurrence is answered as given: one QueryExecution
	// (or one unprocessed entry) per occurrence, rather than dropping repeats silently.
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range in.QueryExecutionIDs {
		if id == "" || len(id) > maxIDLength {
			return nil, invalidRequest("QueryExecutionIds: %q is not a valid query execution ID", id)
		}
		e, ok, err := s.exec(id)
		if err != nil {
			return nil, internalError(err.Error())
		}
		if !ok && s.opts.Generated != nil {
			if q, gen := s.opts.Generated(id); gen {
				e, ok = &execution{q: q}, true
			}
		}
		switch {
		case !ok:
			out.UnprocessedQueryExecutionIDs = append(out.UnprocessedQueryExecutionIDs, wireUnprocessed{
				QueryExecutionID: id, ErrorCode: CodeInvalidRequest, ErrorMessage: "QueryExecution " + id + " was not found",
			})
		case s.lim.roll(s.lim.faults.Unprocessed):
			out.UnprocessedQueryExecutionIDs = append(out.UnprocessedQueryExecutionIDs, wireUnprocessed{
				QueryExecutionID: id, ErrorCode: CodeInternalServer, ErrorMessage: "Internal error, please retry (injected)",
			})
		default:
			out.QueryExecutions = append(out.QueryExecutions, wireExecution(e.q))
		}
	}
	return out, nil
}

func (s *Server) stopQueryExecution(_ context.Context, body []byte) (any, *apiError) {
	var in idInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	id, aerr := requireID(in.QueryExecutionID)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok, err := s.exec(id)
	if err != nil {
		return nil, internalError(err.Error())
	}
	if !ok {
		return nil, notFound(id)
	}
	if terminal(e.q) {
		return struct{}{}, nil // Athena accepts stopping a finished query and changes nothing
	}
	now := s.opts.Now()
	st := *e.q.Status
	st.State = types.QueryExecutionStateCancelled
	st.StateChangeReason = aws.String(reasonCancelled)
	st.CompletionDateTime = &now
	e.q.Status = &st
	if e.cancel != nil {
		e.cancel()
	}
	if err := s.save(e); err != nil {
		return nil, internalError(err.Error())
	}
	return struct{}{}, nil
}

// listToken is the position after the last ID of a ListQueryExecutions page.
type listToken struct {
	Submitted int64  `json:"s"`
	ID        string `json:"i"`
}

func (s *Server) listQueryExecutions(_ context.Context, body []byte) (any, *apiError) {
	var in listInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	wg := aws.ToString(in.WorkGroup)
	if wg == "" {
		wg = DefaultWorkgroup
	}
	s.mu.Lock()
	_, ok := s.workgroups[wg]
	s.mu.Unlock()
	if !ok {
		return nil, invalidRequest("WorkGroup %s is not found.", wg)
	}
	limit := maxListResults
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
		if limit < 1 || limit > maxListResults {
			return nil, invalidRequest("MaxResults is %d; it must be 1 to %d", limit, maxListResults)
		}
	}
	var after *listToken
	if in.NextToken != nil {
		var t listToken
		if err := decodeToken(*in.NextToken, &t); err != nil {
			return nil, invalidRequest("NextToken is not one ListQueryExecutions returned")
		}
		after = &t
	}
	type entry struct {
		submitted int64
		id        string
	}
	s.mu.Lock()
	var all []entry
	for id, e := range s.execs {
		if w := aws.ToString(e.q.WorkGroup); w == wg || (w == "" && wg == DefaultWorkgroup) {
			all = append(all, entry{submitted(e.q), id})
		}
	}
	for id, h := range s.hist {
		if w := s.wgNames[h.workgroup]; w == wg || (w == "" && wg == DefaultWorkgroup) {
			all = append(all, entry{h.submitted, id})
		}
	}
	s.mu.Unlock()
	// Newest first, as Athena lists them; the ID breaks ties so that pages are stable.
	slices.SortFunc(all, func(a, b entry) int {
		return cmp.Or(cmp.Compare(b.submitted, a.submitted), strings.Compare(b.id, a.id))
	})
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(all, *after, func(e entry, t listToken) int {
			return cmp.Or(cmp.Compare(t.Submitted, e.submitted), strings.Compare(t.ID, e.id))
		})
		if start < len(all) && all[start].id == after.ID {
			start++
		}
	}
	out := listOutput{QueryExecutionIDs: []string{}}
	end := min(start+limit, len(all))
	for _, e := range all[start:end] {
		out.QueryExecutionIDs = append(out.QueryExecutionIDs, e.id)
	}
	if end < len(all) {
		last := all[end-1]
		out.NextToken = aws.String(encodeToken(listToken{Submitted: last.submitted, ID: last.id}))
	}
	return out, nil
}

func submitted(q types.QueryExecution) int64 {
	if q.Status == nil || q.Status.SubmissionDateTime == nil {
		return 0
	}
	return q.Status.SubmissionDateTime.UnixNano()
}

// resultsToken is where a GetQueryResults page starts: the row (counting the header row) and
// its byte offset in the result file, which a page is read from as Athena reads it.
type resultsToken struct {
	ID  string `json:"i"`
	Row int    `json:"r"`
	Off int64  `json:"o,omitempty"`
}

func (s *Server) getQueryResults(ctx context.Context, body []byte) (any, *apiError) {
	var in resultsInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	id, aerr := requireID(in.QueryExecutionID)
	if aerr != nil {
		return nil, aerr
	}
	limit := maxResultsPage
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
		if limit < 1 || limit > maxResultsPage {
			return nil, invalidRequest("MaxResults is %d; it must be 1 to %d", limit, maxResultsPage)
		}
	}
	start := resultsToken{ID: id}
	if in.NextToken != nil {
		if err := decodeToken(*in.NextToken, &start); err != nil || start.ID != id || start.Row < 0 || start.Off < 0 {
			return nil, invalidRequest("NextToken is not one GetQueryResults returned for query %s", id)
		}
	}
	m, aerr := s.results(id)
	if aerr != nil {
		return nil, aerr
	}
	out, err := s.resultsPage(ctx, m, start, limit)
	if err != nil {
		return nil, invalidRequest("results of query %s are not available: %v", id, err)
	}
	return out, nil
}

// resultsPage reads up to limit rows of m's result file from start.
func (s *Server) resultsPage(ctx context.Context, m resultMeta, start resultsToken, limit int) (resultsOutput, error) {
	var out resultsOutput
	bucket, key, err := s3uri.Parse(m.uri)
	if err != nil {
		return out, err
	}
	cols, r, err := s.openPage(ctx, m, bucket, key, start)
	if err != nil {
		return out, err
	}
	defer r.Close()
	out.UpdateCount = aws.Int64(0)
	out.ResultSet.Rows = []wireRow{}
	out.ResultSet.ResultSetMetadata.ColumnInfo = make([]wireColumnInfo, 0, len(cols))
	for _, c := range cols {
		out.ResultSet.ResultSetMetadata.ColumnInfo = append(out.ResultSet.ResultSetMetadata.ColumnInfo, columnInfo(c))
	}
	add := func(values []*string) {
		row := wireRow{Data: make([]wireDatum, len(values))}
		for j, v := range values {
			row.Data[j] = wireDatum{VarCharValue: v}
		}
		out.ResultSet.Rows = append(out.ResultSet.Rows, row)
	}
	// Athena puts the column names first on the first page of a query that returns a table;
	// the header row counts toward MaxResults.
	if start.Row == 0 && m.stmt != string(types.StatementTypeDdl) && len(cols) > 0 {
		names := make([]*string, len(cols))
		for i, c := range cols {
			names[i] = aws.String(c.Name)
		}
		add(names)
	}
	for len(out.ResultSet.Rows) < limit {
		values, err := r.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", m.uri, err)
		}
		add(values)
	}
	more, err := r.more()
	if err != nil {
		return out, fmt.Errorf("%s: %w", m.uri, err)
	}
	if more {
		out.NextToken = aws.String(encodeToken(resultsToken{ID: start.ID, Row: start.Row + len(out.ResultSet.Rows), Off: r.off}))
	}
	return out, nil
}

// openPage opens the result file at start's row and returns the result's columns. A CSV
// file's first line is its header: the columns of a result from query history (their types
// unknown), skipped on the first page.
func (s *Server) openPage(ctx context.Context, m resultMeta, bucket, key string, start resultsToken) ([]sqlengine.Column, *resultReader, error) {
	if strings.HasSuffix(key, ".txt") || (start.Row > 0 && m.cols != nil) {
		r, err := s.openResult(ctx, bucket, key, start.Off)
		return m.cols, r, err
	}
	r, err := s.openResult(ctx, bucket, key, 0)
	if err != nil {
		return nil, nil, err
	}
	header, err := r.next()
	if err != nil && !errors.Is(err, io.EOF) {
		r.Close()
		return nil, nil, fmt.Errorf("%s: %w", m.uri, err)
	}
	cols := m.cols
	if cols == nil {
		for _, name := range header {
			cols = append(cols, sqlengine.Column{Name: aws.ToString(name), Type: "varchar"})
		}
	}
	if start.Row == 0 {
		return cols, r, nil
	}
	r.Close()
	r, err = s.openResult(ctx, bucket, key, start.Off)
	return cols, r, err
}

// columnInfo describes a result column as Athena does for a query over Hive tables.
func columnInfo(c sqlengine.Column) wireColumnInfo {
	ci := wireColumnInfo{CatalogName: catalogHive, Name: c.Name, Label: c.Name, Type: c.Type, Nullable: string(types.ColumnNullableUnknown)}
	base, args, _ := strings.Cut(strings.TrimSuffix(strings.ToLower(c.Type), ")"), "(")
	switch base {
	case "varchar", "char", "string":
		ci.Precision = 2147483647
		if n, err := strconv.Atoi(args); err == nil {
			ci.Precision = int32(n)
		}
		ci.CaseSensitive = true
	case "bigint":
		ci.Precision = 19
	case "integer", "int":
		ci.Precision = 10
	case "smallint":
		ci.Precision = 5
	case "tinyint":
		ci.Precision = 3
	case "double":
		ci.Precision = 17
	case "real", "float":
		ci.Precision = 7
	case "timestamp":
		ci.Precision = 3
	case "decimal":
		p, sc, _ := strings.Cut(args, ",")
		if n, err := strconv.Atoi(strings.TrimSpace(p)); err == nil {
			ci.Precision = int32(n)
		}
		if n, err := strconv.Atoi(strings.TrimSpace(sc)); err == nil {
			ci.Scale = int32(n)
		}
	}
	return ci
}

func requireID(id *string) (string, *apiError) {
	switch {
	case id == nil:
		return "", invalidRequest("QueryExecutionId is required")
	case *id == "" || len(*id) > maxIDLength:
		return "", invalidRequest("QueryExecutionId %q is not a valid query execution ID", *id)
	}
	return *id, nil
}

func notFound(id string) *apiError {
	return invalidRequest("QueryExecution %s was not found", id)
}

func encodeToken(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// newID returns a random (version 4) UUID, the form of Athena's query execution IDs.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// classify guesses a statement's type from its first words, as Athena reports it while the
// query is still queued; the engine's answer replaces the guess when the query finishes.
func classify(sql string) (stmt, sub string) {
	words := strings.Fields(strings.ToUpper(stripComments(sql)))
	word := func(i int) string {
		if i < len(words) {
			return strings.TrimLeft(words[i], "(")
		}
		return ""
	}
	switch w := word(0); w {
	case "SELECT", "WITH", "VALUES", "TABLE":
		return "DML", "SELECT"
	case "INSERT", "UNLOAD", "DELETE", "UPDATE", "MERGE":
		return "DML", w
	case "EXPLAIN", "PREPARE", "EXECUTE", "DEALLOCATE":
		return "UTILITY", w
	case "CREATE", "DROP", "ALTER":
		i := 1
		for word(i) == "OR" || word(i) == "REPLACE" || word(i) == "EXTERNAL" {
			i++
		}
		obj := word(i)
		if obj == "SCHEMA" {
			obj = "DATABASE"
		}
		if w == "CREATE" && obj == "TABLE" && slices.Contains(words, "AS") {
			return "DDL", "CREATE_TABLE_AS_SELECT"
		}
		return "DDL", w + "_" + obj
	case "":
		return "DML", "SELECT"
	default:
		return "DDL", w
	}
}

func stripComments(sql string) string {
	var b strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		line, _, _ = strings.Cut(line, "--")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// durationMS is d in whole milliseconds, as Athena's statistics count.
func durationMS(d time.Duration) *int64 {
	return aws.Int64(max(d, 0).Milliseconds())
}
