package templatecheck

import (
	"fmt"
	"testing"

	"github.com/athenausage/athena-usage/pkg/alert"
	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/lookup"
)

// TestParameterDefaultsMatchTheCode checks that the template's parameter defaults, which
// CloudFormation needs in the template, are the Go constants the functions default to when the
// variable is unset: one value, written twice, kept equal here. 0 for the rate and concurrency
// leaves the variable unset, so that the limiter finds the quota itself.
func TestParameterDefaultsMatchTheCode(t *testing.T) {
	s := loadOrFail(t)
	for _, tt := range []struct {
		param string
		want  any
	}{
		{"PricePerTBUSD", config.DefaultPricePerTB},
		{"LateDeliveryDays", config.DefaultLateDays},
		{"LookupPartSize", lookup.DefaultPartSize},
		{"LookupMaxAttempts", batchget.DefaultMaxAttempts},
		{"LookupRate", 0},
		{"LookupHeadroomPercent", batchget.DefaultHeadroom * 100},
		{"LookupConcurrency", 0},
		{"AlertThresholdUSD", alert.DefaultThresholdUSD},
		{"AlertRatio", alert.DefaultRatio},
		{"AlertMinCostUSD", alert.DefaultMinCostUSD},
	} {
		if got, want := s.param(tt.param), fmt.Sprint(tt.want); got != want {
			t.Errorf("template parameter %s defaults to %s, want %s (the code's default)", tt.param, got, want)
		}
	}
}
