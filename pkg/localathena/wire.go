package localathena

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// The wire structs below are the JSON 1.1 shapes of the members the stand-in reads and writes,
// named as in Athena's API model. They are converted to and from the SDK's types at the edge so
// that the rest of the package, and pkg/queryhistory, work with types.QueryExecution.

// epochTime is a timestamp on the wire: epoch seconds as a number, with millisecond precision,
// as the SDK writes and reads them.
type epochTime time.Time

func (t epochTime) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

func (t *epochTime) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("timestamp %s is not epoch seconds", b)
	}
	sec, frac := math.Modf(f)
	*t = epochTime(time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC())
	return nil
}

func epochPtr(t *time.Time) *epochTime {
	if t == nil {
		return nil
	}
	e := epochTime(*t)
	return &e
}

func timePtr(e *epochTime) *time.Time {
	if e == nil {
		return nil
	}
	t := time.Time(*e)
	return &t
}

type wireExecution struct {
	QueryExecutionID         string                 `json:"QueryExecutionId,omitempty"`
	Query                    *string                `json:"Query,omitempty"`
	StatementType            string                 `json:"StatementType,omitempty"`
	SubstatementType         *string                `json:"SubstatementType,omitempty"`
	ResultConfiguration      *wireResultConfig      `json:"ResultConfiguration,omitempty"`
	ResultReuseConfiguration *wireResultReuseConfig `json:"ResultReuseConfiguration,omitempty"`
	QueryExecutionContext    *wireContext           `json:"QueryExecutionContext,omitempty"`
	Status                   *wireStatus            `json:"Status,omitempty"`
	Statistics               *wireStatistics        `json:"Statistics,omitempty"`
	WorkGroup                *string                `json:"WorkGroup,omitempty"`
	EngineVersion            *wireEngineVersion     `json:"EngineVersion,omitempty"`
	ExecutionParameters      []string               `json:"ExecutionParameters,omitempty"`
}

type wireResultConfig struct {
	OutputLocation      *string `json:"OutputLocation,omitempty"`
	ExpectedBucketOwner *string `json:"ExpectedBucketOwner,omitempty"`
}

type wireResultReuseConfig struct {
	ResultReuseByAgeConfiguration *struct {
		Enabled         bool   `json:"Enabled"`
		MaxAgeInMinutes *int32 `json:"MaxAgeInMinutes,omitempty"`
	} `json:"ResultReuseByAgeConfiguration,omitempty"`
}

type wireContext struct {
	Database *string `json:"Database,omitempty"`
	Catalog  *string `json:"Catalog,omitempty"`
}

type wireStatus struct {
	State              string           `json:"State,omitempty"`
	StateChangeReason  *string          `json:"StateChangeReason,omitempty"`
	SubmissionDateTime *epochTime       `json:"SubmissionDateTime,omitempty"`
	CompletionDateTime *epochTime       `json:"CompletionDateTime,omitempty"`
	AthenaError        *wireAthenaError `json:"AthenaError,omitempty"`
}

type wireAthenaError struct {
	ErrorCategory *int32  `json:"ErrorCategory,omitempty"`
	ErrorType     *int32  `json:"ErrorType,omitempty"`
	Retryable     bool    `json:"Retryable"`
	ErrorMessage  *string `json:"ErrorMessage,omitempty"`
}

type wireStatistics struct {
	EngineExecutionTimeInMillis      *int64  `json:"EngineExecutionTimeInMillis,omitempty"`
	DataScannedInBytes               *int64  `json:"DataScannedInBytes,omitempty"`
	DataManifestLocation             *string `json:"DataManifestLocation,omitempty"`
	TotalExecutionTimeInMillis       *int64  `json:"TotalExecutionTimeInMillis,omitempty"`
	QueryQueueTimeInMillis           *int64  `json:"QueryQueueTimeInMillis,omitempty"`
	ServicePreProcessingTimeInMillis *int64  `json:"ServicePreProcessingTimeInMillis,omitempty"`
	QueryPlanningTimeInMillis        *int64  `json:"QueryPlanningTimeInMillis,omitempty"`
	ServiceProcessingTimeInMillis    *int64  `json:"ServiceProcessingTimeInMillis,omitempty"`
	ResultReuseInformation           *struct {
		ReusedPreviousResult bool `json:"ReusedPreviousResult"`
	} `json:"ResultReuseInformation,omitempty"`
	DpuCount *float64 `json:"DpuCount,omitempty"`
}

type wireEngineVersion struct {
	SelectedEngineVersion  *string `json:"SelectedEngineVersion,omitempty"`
	EffectiveEngineVersion *string `json:"EffectiveEngineVersion,omitempty"`
}

func toWire(q types.QueryExecution) wireExecution {
	w := wireExecution{
		QueryExecutionID:    aws.ToString(q.QueryExecutionId),
		Query:               q.Query,
		StatementType:       string(q.StatementType),
		SubstatementType:    q.SubstatementType,
		WorkGroup:           q.WorkGroup,
		ExecutionParameters: q.ExecutionParameters,
	}
	if c := q.ResultConfiguration; c != nil {
		w.ResultConfiguration = &wireResultConfig{OutputLocation: c.OutputLocation, ExpectedBucketOwner: c.ExpectedBucketOwner}
	}
	if c := q.ResultReuseConfiguration; c != nil && c.ResultReuseByAgeConfiguration != nil {
		w.ResultReuseConfiguration = &wireResultReuseConfig{}
		w.ResultReuseConfiguration.ResultReuseByAgeConfiguration = &struct {
			Enabled         bool   `json:"Enabled"`
			MaxAgeInMinutes *int32 `json:"MaxAgeInMinutes,omitempty"`
		}{c.ResultReuseByAgeConfiguration.Enabled, c.ResultReuseByAgeConfiguration.MaxAgeInMinutes}
	}
	if c := q.QueryExecutionContext; c != nil {
		w.QueryExecutionContext = &wireContext{Database: c.Database, Catalog: c.Catalog}
	}
	if s := q.Status; s != nil {
		w.Status = &wireStatus{
			State:              string(s.State),
			StateChangeReason:  s.StateChangeReason,
			SubmissionDateTime: epochPtr(s.SubmissionDateTime),
			CompletionDateTime: epochPtr(s.CompletionDateTime),
		}
		if e := s.AthenaError; e != nil {
			w.Status.AthenaError = &wireAthenaError{
				ErrorCategory: e.ErrorCategory,
				ErrorType:     e.ErrorType,
				Retryable:     e.Retryable,
				ErrorMessage:  e.ErrorMessage,
			}
		}
	}
	if s := q.Statistics; s != nil {
		w.Statistics = &wireStatistics{
			EngineExecutionTimeInMillis:      s.EngineExecutionTimeInMillis,
			DataScannedInBytes:               s.DataScannedInBytes,
			DataManifestLocation:             s.DataManifestLocation,
			TotalExecutionTimeInMillis:       s.TotalExecutionTimeInMillis,
			QueryQueueTimeInMillis:           s.QueryQueueTimeInMillis,
			ServicePreProcessingTimeInMillis: s.ServicePreProcessingTimeInMillis,
			QueryPlanningTimeInMillis:        s.QueryPlanningTimeInMillis,
			ServiceProcessingTimeInMillis:    s.ServiceProcessingTimeInMillis,
			DpuCount:                         s.DpuCount,
		}
		if r := s.ResultReuseInformation; r != nil {
			w.Statistics.ResultReuseInformation = &struct {
				ReusedPreviousResult bool `json:"ReusedPreviousResult"`
			}{r.ReusedPreviousResult}
		}
	}
	if v := q.EngineVersion; v != nil {
		w.EngineVersion = &wireEngineVersion{SelectedEngineVersion: v.SelectedEngineVersion, EffectiveEngineVersion: v.EffectiveEngineVersion}
	}
	return w
}

func fromWire(w wireExecution) types.QueryExecution {
	q := types.QueryExecution{
		QueryExecutionId:    aws.String(w.QueryExecutionID),
		Query:               w.Query,
		StatementType:       types.StatementType(w.StatementType),
		SubstatementType:    w.SubstatementType,
		WorkGroup:           w.WorkGroup,
		ExecutionParameters: w.ExecutionParameters,
	}
	if c := w.ResultConfiguration; c != nil {
		q.ResultConfiguration = &types.ResultConfiguration{OutputLocation: c.OutputLocation, ExpectedBucketOwner: c.ExpectedBucketOwner}
	}
	if c := w.ResultReuseConfiguration; c != nil && c.ResultReuseByAgeConfiguration != nil {
		q.ResultReuseConfiguration = &types.ResultReuseConfiguration{
			ResultReuseByAgeConfiguration: &types.ResultReuseByAgeConfiguration{
				Enabled:         c.ResultReuseByAgeConfiguration.Enabled,
				MaxAgeInMinutes: c.ResultReuseByAgeConfiguration.MaxAgeInMinutes,
			},
		}
	}
	if c := w.QueryExecutionContext; c != nil {
		q.QueryExecutionContext = &types.QueryExecutionContext{Database: c.Database, Catalog: c.Catalog}
	}
	if s := w.Status; s != nil {
		q.Status = &types.QueryExecutionStatus{
			State:              types.QueryExecutionState(s.State),
			StateChangeReason:  s.StateChangeReason,
			SubmissionDateTime: timePtr(s.SubmissionDateTime),
			CompletionDateTime: timePtr(s.CompletionDateTime),
		}
		if e := s.AthenaError; e != nil {
			q.Status.AthenaError = &types.AthenaError{
				ErrorCategory: e.ErrorCategory,
				ErrorType:     e.ErrorType,
				Retryable:     e.Retryable,
				ErrorMessage:  e.ErrorMessage,
			}
		}
	}
	if s := w.Statistics; s != nil {
		q.Statistics = &types.QueryExecutionStatistics{
			EngineExecutionTimeInMillis:      s.EngineExecutionTimeInMillis,
			DataScannedInBytes:               s.DataScannedInBytes,
			DataManifestLocation:             s.DataManifestLocation,
			TotalExecutionTimeInMillis:       s.TotalExecutionTimeInMillis,
			QueryQueueTimeInMillis:           s.QueryQueueTimeInMillis,
			ServicePreProcessingTimeInMillis: s.ServicePreProcessingTimeInMillis,
			QueryPlanningTimeInMillis:        s.QueryPlanningTimeInMillis,
			ServiceProcessingTimeInMillis:    s.ServiceProcessingTimeInMillis,
			DpuCount:                         s.DpuCount,
		}
		if r := s.ResultReuseInformation; r != nil {
			q.Statistics.ResultReuseInformation = &types.ResultReuseInformation{ReusedPreviousResult: r.ReusedPreviousResult}
		}
	}
	if v := w.EngineVersion; v != nil {
		q.EngineVersion = &types.EngineVersion{SelectedEngineVersion: v.SelectedEngineVersion, EffectiveEngineVersion: v.EffectiveEngineVersion}
	}
	return q
}

// Operation inputs and outputs.

type startInput struct {
	QueryString           *string           `json:"QueryString"`
	ClientRequestToken    *string           `json:"ClientRequestToken"`
	QueryExecutionContext *wireContext      `json:"QueryExecutionContext"`
	ResultConfiguration   *wireResultConfig `json:"ResultConfiguration"`
	WorkGroup             *string           `json:"WorkGroup"`
	ExecutionParameters   []string          `json:"ExecutionParameters"`
}

type startOutput struct {
	QueryExecutionID string `json:"QueryExecutionId"`
}

type idInput struct {
	QueryExecutionID *string `json:"QueryExecutionId"`
}

type getOutput struct {
	QueryExecution wireExecution `json:"QueryExecution"`
}

type batchGetInput struct {
	QueryExecutionIDs []string `json:"QueryExecutionIds"`
}

type wireUnprocessed struct {
	QueryExecutionID string `json:"QueryExecutionId"`
	ErrorCode        string `json:"ErrorCode"`
	ErrorMessage     string `json:"ErrorMessage"`
}

type batchGetOutput struct {
	QueryExecutions              []wireExecution   `json:"QueryExecutions"`
	UnprocessedQueryExecutionIDs []wireUnprocessed `json:"UnprocessedQueryExecutionIds"`
}

type listInput struct {
	WorkGroup  *string `json:"WorkGroup"`
	MaxResults *int32  `json:"MaxResults"`
	NextToken  *string `json:"NextToken"`
}

type listOutput struct {
	QueryExecutionIDs []string `json:"QueryExecutionIds"`
	NextToken         *string  `json:"NextToken,omitempty"`
}

type resultsInput struct {
	QueryExecutionID *string `json:"QueryExecutionId"`
	MaxResults       *int32  `json:"MaxResults"`
	NextToken        *string `json:"NextToken"`
}

type wireColumnInfo struct {
	CatalogName   string `json:"CatalogName"`
	SchemaName    string `json:"SchemaName"`
	TableName     string `json:"TableName"`
	Name          string `json:"Name"`
	Label         string `json:"Label"`
	Type          string `json:"Type"`
	Precision     int32  `json:"Precision"`
	Scale         int32  `json:"Scale"`
	Nullable      string `json:"Nullable"`
	CaseSensitive bool   `json:"CaseSensitive"`
}

// wireDatum leaves VarCharValue out for NULL, as Athena does.
type wireDatum struct {
	VarCharValue *string `json:"VarCharValue,omitempty"`
}

type wireRow struct {
	Data []wireDatum `json:"Data"`
}

type resultsOutput struct {
	UpdateCount *int64 `json:"UpdateCount,omitempty"`
	ResultSet   struct {
		Rows              []wireRow `json:"Rows"`
		ResultSetMetadata struct {
			ColumnInfo []wireColumnInfo `json:"ColumnInfo"`
		} `json:"ResultSetMetadata"`
	} `json:"ResultSet"`
	NextToken *string `json:"NextToken,omitempty"`
}

// decodeStrict decodes one JSON document and rejects trailing data.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("unexpected data after the JSON document")
	}
	return nil
}
