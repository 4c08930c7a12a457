package athenaserver

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/athenausage/athena-usage/local/history"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// wireExecution is a QueryExecution as the stand-in sends it and saves it: in the API's JSON
// shape, which local/history owns, with timestamps in epoch seconds as Athena sends them.
// Reading accepts what history.UnmarshalExecution accepts.
type wireExecution types.QueryExecution

func (w wireExecution) MarshalJSON() ([]byte, error) {
	return history.MarshalExecution(types.QueryExecution(w), history.Epoch)
}

func (w *wireExecution) UnmarshalJSON(b []byte) error {
	q, err := history.UnmarshalExecution(b)
	if err != nil {
		return err
	}
	*w = wireExecution(q)
	return nil
}

// The structs below are the JSON 1.1 shapes of the other members the stand-in reads and writes,
// named as in Athena's API model.

type wireResultConfig struct {
	OutputLocation      *string `json:"OutputLocation,omitempty"`
	ExpectedBucketOwner *string `json:"ExpectedBucketOwner,omitempty"`
}

type wireContext struct {
	Database *string `json:"Database,omitempty"`
	Catalog  *string `json:"Catalog,omitempty"`
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
