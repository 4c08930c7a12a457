package alert

import (
	"fmt"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
)

// Limits of SNS: a subject of at most 100 characters, a message of at most 256 KB.
const (
	maxSubject = 100
	// maxMessage leaves room under SNS's limit for the ending that says a message was cut.
	maxMessage = 250 << 10
	// maxDetailed is how many users the message details, drill-in SQL and all; the others are
	// listed one per line.
	maxDetailed = 50
)

// message returns the subject and text of the alert about findings on day.
func (h *Handler) message(day time.Time, findings []Finding) (subject, body string, err error) {
	d := day.Format(config.DayLayout)
	users := "1 user"
	if len(findings) != 1 {
		users = fmt.Sprintf("%d users", len(findings))
	}
	subject = fmt.Sprintf("Athena usage alert %s: %s over the rules (%s)", d, users, h.cfg.StackName)
	if len(subject) > maxSubject {
		subject = subject[:maxSubject]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Athena usage alert for %s (UTC), stack %s: %s over the alert rules.\n\n", d, h.cfg.StackName, users)
	fmt.Fprintf(&b, "%s\n\n", h.rules.describe(day))
	for i, f := range findings {
		if i == maxDetailed {
			fmt.Fprintf(&b, "And %d more:\n", len(findings)-maxDetailed)
		}
		if i >= maxDetailed {
			fmt.Fprintf(&b, "  %s: %s on the day\n", f.User, usd(f.CostUSD))
			continue
		}
		if err := h.detail(&b, i+1, day, f); err != nil {
			return "", "", err
		}
	}
	fmt.Fprintf(&b, "Each user is alerted about once a day. Run the queries in the %s workgroup, database %s.\n", h.cfg.Workgroup, h.cfg.Database)
	body = b.String()
	if len(body) > maxMessage {
		body = body[:maxMessage] + "\n... (cut at SNS's message size limit)\n"
	}
	return subject, body, nil
}

// detail writes the figures of the nth finding and the SQL to drill in.
func (h *Handler) detail(b *strings.Builder, n int, day time.Time, f Finding) error {
	drill, err := athenasql.AlertDrill(h.cfg.Database, day, f.User)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "%d. %s\n", n, f.User)
	fmt.Fprintf(b, "   Day:      %s, %d queries, %s scanned\n", usd(f.CostUSD), f.Queries, gib(f.DataScannedBytes))
	switch {
	case f.HistoryDays == 0:
		fmt.Fprintf(b, "   Baseline: none, no query in the %d days before\n", WindowDays)
	case f.BaselineUSD == 0:
		fmt.Fprintf(b, "   Baseline: 0.00 USD a day (median of %s with queries)\n", days(f.HistoryDays))
	default:
		fmt.Fprintf(b, "   Baseline: %s a day (median of %s with queries); the day is %.1fx that\n",
			usd(f.BaselineUSD), days(f.HistoryDays), f.CostUSD/f.BaselineUSD)
	}
	var rules []string
	if f.OverThreshold {
		rules = append(rules, "above "+usd(h.rules.ThresholdUSD))
	}
	if f.OverRatio {
		rules = append(rules, fmt.Sprintf("above %gx the baseline", h.rules.Ratio))
	}
	fmt.Fprintf(b, "   Rule:     %s\n", strings.Join(rules, "; "))
	fmt.Fprintf(b, "   Drill in:\n      %s\n\n", strings.ReplaceAll(drill, "\n", "\n      "))
	return nil
}

// describe states the rules for day.
func (r Rules) describe(day time.Time) string {
	from := day.AddDate(0, 0, -WindowDays).Format(config.DayLayout)
	to := day.AddDate(0, 0, -1).Format(config.DayLayout)
	return fmt.Sprintf("Rules: a user is listed when their Athena cost on the day is above %s, or when it is at least %s "+
		"and above %gx their baseline: the median of their daily cost over the days they ran queries among the %d days "+
		"before (%s to %s).", usd(r.ThresholdUSD), usd(r.MinCostUSD), r.Ratio, WindowDays, from, to)
}

func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

func usd(v float64) string { return fmt.Sprintf("%.2f USD", v) }

func gib(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }
