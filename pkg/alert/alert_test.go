package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/emf"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/aws/aws-sdk-go-v2/aws"
)

// testDay is before 2000-01-01, where synctest's clock starts: a later day would be in the future.
const (
	testDay   = "1999-12-30"
	testTopic = "arn:aws:sns:us-east-1:123456789012:athena-usage-alerts"
	spiker    = "arn:aws:iam::123456789012:user/spike"
	steady    = "arn:aws:iam::123456789012:user/steady"
	small     = "arn:aws:iam::123456789012:user/small"
)

type world struct {
	athena  *fakeAthena
	s3      *fakeS3
	sns     *fakeSNS
	metrics *bytes.Buffer
	h       *Handler
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{athena: &fakeAthena{}, s3: newFakeS3(), sns: &fakeSNS{}, metrics: &bytes.Buffer{}}
	cfg := config.Alert{
		Shared:   config.Shared{Region: "us-east-1", DataBucket: "usage-data", DataPrefix: "usage/", StackName: "athena-usage"},
		Database: "athena_usage", Workgroup: "athena-usage", TopicARN: testTopic,
	}
	h, err := New(cfg, Clients{Athena: w.athena, S3: w.s3, SNS: w.sns}, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		o.Metrics = emf.New(w.metrics, func(o *emf.Options) { o.Dimensions = []emf.Dimension{{Name: "Stack", Value: "athena-usage"}} })
	})
	if err != nil {
		t.Fatal(err)
	}
	w.h = h
	return w
}

// rows are the candidates' rows: spike jumps from 0.3125 to 6.25 USD (20x), small from 0.02
// to 0.4 (20x, under the minimum cost), steady stays at 6.
var rows = [][]string{
	{small, "1999-12-28", "4", "4294967296", "0.02"},
	{small, "1999-12-30", "4", "85899345920", "0.4"},
	{spiker, "1999-12-27", "4", "68719476736", "0.3125"},
	{spiker, "1999-12-28", "4", "68719476736", "0.3125"},
	{spiker, "1999-12-29", "4", "68719476736", "0.3125"},
	{spiker, "1999-12-30", "4", "1374389534720", "6.25"},
	{steady, "1999-12-29", "9", "1099511627776", "6.0"},
	{steady, "1999-12-30", "9", "1099511627776", "6.0"},
}

func TestAlertsPublishOnceADay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t)
		w.athena.rows = rows
		ctx := context.Background()
		res, err := w.h.Handle(ctx, events.Alert{Day: testDay})
		if err != nil {
			t.Fatalf("Handle: %v", err)
		}
		if len(res.Alerted) != 1 || res.Alerted[0].User != spiker || res.MessageID != "m-1" {
			t.Fatalf("Handle(%s) = %+v, want spike alone, in message m-1", testDay, res)
		}
		if sql := w.athena.sqls[0]; !strings.Contains(sql, "BETWEEN '1999-12-16' AND '1999-12-30'") || !strings.Contains(sql, ">= 5.0") {
			t.Errorf("candidates query = %s, want the 14 days before and the floor of 5 USD", sql)
		}
		msgs := w.sns.messages()
		if len(msgs) != 1 || aws.ToString(msgs[0].TopicArn) != testTopic {
			t.Fatalf("published %d messages, want 1 to %s", len(msgs), testTopic)
		}
		body := aws.ToString(msgs[0].Message)
		for _, want := range []string{
			"1. " + spiker, "6.25 USD, 4 queries, 1280.0 GiB scanned",
			"0.31 USD a day (median of 3 days with queries); the day is 20.0x that",
			"above 10x the baseline", "above 100.00 USD, or when it is at least 5.00 USD",
			"(1999-12-16 to 1999-12-29)", "user_arn = '" + spiker + "'", "day = '1999-12-30'",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("message lacks %q:\n%s", want, body)
			}
		}
		for _, not := range []string{small, steady} {
			if strings.Contains(body, not) {
				t.Errorf("message names %s, which is under the rules:\n%s", not, body)
			}
		}
		if s := aws.ToString(msgs[0].Subject); len(s) > maxSubject || !strings.Contains(s, testDay) {
			t.Errorf("subject %q: want the day, at most %d characters", s, maxSubject)
		}

		// A rerun finds the same user and publishes nothing.
		res, err = w.h.Handle(ctx, events.Alert{Day: testDay})
		if err != nil || len(res.Alerted) != 0 || res.Already != 1 || len(w.sns.messages()) != 1 {
			t.Errorf("rerun: Handle = %+v, %v with %d messages, want nothing new and 1 already alerted", res, err, len(w.sns.messages()))
		}
		// Late records make steady jump too: only steady is published.
		w.athena.rows = append(slices.Clone(rows[:len(rows)-1]), []string{steady, "1999-12-30", "9", "1", "150"})
		res, err = w.h.Handle(ctx, events.Alert{Day: testDay})
		if err != nil || len(res.Alerted) != 1 || res.Alerted[0].User != steady || res.Already != 1 {
			t.Fatalf("rerun with a new user: Handle = %+v, %v, want steady alone", res, err)
		}
		if body := aws.ToString(w.sns.messages()[1].Message); strings.Contains(body, spiker) {
			t.Errorf("second message names %s again:\n%s", spiker, body)
		}
		checkRecord(t, w, []string{spiker, steady})
	})
}

// checkRecord checks that the day's record names users, in order of their messages.
func checkRecord(t *testing.T, w *world, users []string) {
	t.Helper()
	day, _ := config.ParseDay(testDay)
	var rec record
	if err := json.Unmarshal(w.s3.objects[athenasql.AlertsKey("usage/", day)], &rec); err != nil {
		t.Fatalf("record: %v", err)
	}
	var got []string
	for _, m := range rec.Messages {
		for _, f := range m.Findings {
			got = append(got, f.User)
		}
	}
	if strings.Join(got, " ") != strings.Join(users, " ") {
		t.Errorf("record names %v, want %v", got, users)
	}
}

func TestAlertsNothingToSay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t)
		w.athena.rows = rows[:2] // small alone: under the minimum cost
		res, err := w.h.Handle(context.Background(), events.Alert{Day: testDay})
		if err != nil || len(res.Alerted) != 0 || len(w.sns.messages()) != 0 || len(w.s3.puts) != 0 {
			t.Errorf("Handle = %+v, %v, published %d, wrote %v, want nothing published or written", res, err, len(w.sns.messages()), w.s3.puts)
		}
	})
}

func TestAlertsPublishFailureWritesNoRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t)
		w.athena.rows = rows
		w.sns.err = errBoom
		_, err := w.h.Handle(context.Background(), events.Alert{Day: testDay})
		if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), testTopic) || len(w.s3.puts) != 0 {
			t.Fatalf("Handle with SNS failing = %v, wrote %v, want the error naming the topic and no record", err, w.s3.puts)
		}
		// The retry publishes the alert that failed.
		w.sns.err = nil
		res, err := w.h.Handle(context.Background(), events.Alert{Day: testDay})
		if err != nil || len(res.Alerted) != 1 || len(w.sns.messages()) != 1 {
			t.Errorf("retry: Handle = %+v, %v, want spike published", res, err)
		}
	})
}
