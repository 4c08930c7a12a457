package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/athenausage/athena-usage/local/history"
	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/report"
)

// settingsFile records, in a state directory, what the pipeline last ran with, so that a later
// report knows the price and window without asking again.
const settingsFile = "settings.json"

type settings struct {
	Accounts        []string `json:"accounts"`
	Regions         []string `json:"regions"`
	OrgID           string   `json:"org_id,omitempty"`
	ProjectionStart string   `json:"projection_start"`
	PricePerTB      float64  `json:"price_per_tb_usd"`
	FirstDay        string   `json:"first_day"`
	LastDay         string   `json:"last_day"`
}

func saveSettings(dir string, s settings) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, settingsFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, settingsFile))
}

// pipeline returns the pipeline settings that s records.
func (s settings) pipeline() pipeline.Settings {
	start, _ := config.ParseDay(s.ProjectionStart) // written by saveSettings from a day
	return pipeline.Settings{Accounts: s.Accounts, Regions: s.Regions, OrgID: s.OrgID, ProjectionStart: start, PricePerTB: s.PricePerTB}
}

func loadSettings(dir string) (settings, error) {
	var s settings
	b, err := os.ReadFile(filepath.Join(dir, settingsFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, fmt.Errorf("%s holds no pipeline run (no %s): run `athena-usage local run` or `athena-usage demo` first", dir, settingsFile)
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(dir, settingsFile), err)
	}
	return s, nil
}

// pipelineRun is one run of the local pipeline over CloudTrail files and a history file.
type pipelineRun struct {
	cloudtrail string
	history    string
	state      string
	from, to   time.Time
	price      float64
	partSize   int
	athena     athenaserver.Options
	// published counts the messages the alert topic held before the run.
	published int
}

// run starts the stack over the state directory, ingests the CloudTrail files and the history,
// and runs the pipeline for each day. It returns the alerts the run published too. The caller
// closes the returned stack.
func (r pipelineRun) run(ctx context.Context, p *progress, warn io.Writer) (*pipeline.Stack, settings, []pipeline.Message, error) {
	st, set, err := r.runDays(ctx, p, warn)
	if err != nil {
		return nil, set, nil, err
	}
	msgs, err := st.Messages()
	if err != nil {
		st.Close()
		return nil, set, nil, err
	}
	return st, set, msgs[min(r.published, len(msgs)):], nil
}

// printAlerts prints the alerts a run published, as a subscriber of the topic would get them.
func printAlerts(w io.Writer, msgs []pipeline.Message) {
	if len(msgs) == 0 {
		fmt.Fprintln(w, "alerts: none published (no user over the alert rules)")
		return
	}
	fmt.Fprintf(w, "alerts: %d published to %s\n", len(msgs), pipeline.AlertTopic)
	for _, m := range msgs {
		fmt.Fprintf(w, "\n  Subject: %s\n\n    %s\n", m.Subject, strings.ReplaceAll(strings.TrimRight(m.Message, "\n"), "\n", "\n    "))
	}
}

// runDays is run without the alerts.
func (r *pipelineRun) runDays(ctx context.Context, p *progress, warn io.Writer) (*pipeline.Stack, settings, error) {
	var set settings
	if err := prepareState(r.state); err != nil {
		return nil, set, err
	}
	p.stage("starting the local stack in %s", r.state)
	limitGoHeap()
	st, err := pipeline.Start(ctx, pipeline.Options{Dir: r.state, Athena: r.athena, Logger: quietLogger(), Lock: true})
	if err != nil {
		return nil, set, err
	}
	prev, err := loadSettings(r.state)
	if err != nil && exists(r.state, settingsFile) {
		st.Close()
		return nil, set, err
	}
	p.done("Athena %s, S3 %s", st.AthenaURL, st.S3URL)
	// The state directory keeps the messages of earlier runs: only this run's are printed.
	earlier, err := st.Messages()
	if err != nil {
		st.Close()
		return nil, set, err
	}
	r.published = len(earlier)

	p.stage("reading CloudTrail files from %s", r.cloudtrail)
	in, err := st.IngestCloudTrail(ctx, r.cloudtrail)
	for _, e := range in.Skipped {
		fmt.Fprintf(warn, "      skipped: %v\n", e)
	}
	if err != nil {
		st.Close()
		return nil, set, err
	}
	org := ""
	if in.OrgID != "" {
		org = ", organization " + in.OrgID
	}
	p.done("%d files (%s, %d records), accounts %v, regions %v%s, folders %s to %s, %d skipped",
		in.Files, report.HumanBytes(in.Bytes), in.Records, in.Accounts, in.Regions, org,
		in.FirstDay.Format(config.DayLayout), in.LastDay.Format(config.DayLayout), len(in.Skipped))

	p.stage("loading query history")
	if r.history == "" {
		p.done("no --history: every query will count as a query without statistics")
	} else {
		n, problems, err := st.LoadHistory(r.history)
		if err != nil {
			st.Close()
			return nil, set, err
		}
		skipped := len(problems)
		for _, e := range problems {
			fmt.Fprintf(warn, "      skipped: %v\n", e)
			if o := (*history.OmittedError)(nil); errors.As(e, &o) {
				skipped += o.Count - 1
			}
		}
		if n == 0 {
			st.Close()
			return nil, set, fmt.Errorf("history %s: no usable query execution (%d entries skipped)", r.history, skipped)
		}
		p.done("%d query executions from %s, %d lines skipped", n, r.history, skipped)
	}

	start := in.FirstDay
	if r.from.Before(start) {
		start = r.from
	}
	set = settings{
		Accounts: in.Accounts, Regions: in.Regions, OrgID: in.OrgID,
		ProjectionStart: start.Format(config.DayLayout), PricePerTB: r.price,
		FirstDay: r.from.Format(config.DayLayout), LastDay: r.to.Format(config.DayLayout),
	}.merge(prev)
	// Saved before the days run, so that a run that fails partway leaves a state that reports
	// read and the next run completes.
	if err := saveSettings(r.state, set); err != nil {
		st.Close()
		return nil, set, err
	}
	ps := set.pipeline()
	ps.LookupPartSize = r.partSize
	pipe, err := st.Pipeline(ps)
	if err != nil {
		st.Close()
		return nil, set, err
	}
	all := days(r.from, r.to)
	p.stage("running the daily pipeline for %d day(s), %s to %s", len(all), set.FirstDay, set.LastDay)
	for _, d := range all {
		started := time.Now()
		run, err := pipe.RunDay(ctx, d)
		if err != nil {
			st.Close()
			return nil, set, fmt.Errorf("day %s: %w", d.Format(config.DayLayout), err)
		}
		ids, parts, lookupErrs := run.IDs()
		p.detail("%s  extract: %s scanned -> lookup: %d queries in %d part(s), %d without statistics  (%.1fs)",
			run.Day, report.HumanBytes(run.Extract.DataScannedBytes), ids, parts, lookupErrs, time.Since(started).Seconds())
	}
	if err := saveSettings(r.state, set); err != nil {
		st.Close()
		return nil, set, err
	}
	return st, set, nil
}
