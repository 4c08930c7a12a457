package config

import (
	"strings"
	"testing"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func validExtractEnv() map[string]string {
	return map[string]string{
		EnvRegion:           "eu-west-1",
		EnvDataBucket:       "usage-data",
		EnvDataPrefix:       "usage",
		EnvWorkgroup:        "athena-usage",
		EnvCloudTrailBucket: "org-trail",
		EnvCloudTrailPrefix: "trails/main/",
		EnvOrgID:            "o-abcdef1234",
		EnvAccounts:         "123456789012, 210987654321,123456789012",
		EnvRegions:          "eu-west-1,us-east-1",
		EnvProjectionStart:  "2024-01-01",
		EnvLookupFunction:   "athena-usage-lookup",
	}
}

func TestLoadExtract(t *testing.T) {
	c, err := LoadExtract(env(validExtractEnv()))
	if err != nil {
		t.Fatalf("LoadExtract: %v", err)
	}
	if c.DataPrefix != "usage/" || c.CloudTrailPrefix != "trails/main/" {
		t.Errorf("prefixes = %q, %q, want them ending in one slash", c.DataPrefix, c.CloudTrailPrefix)
	}
	if got := strings.Join(c.Accounts, ","); got != "123456789012,210987654321" {
		t.Errorf("Accounts = %s, want trimmed and deduplicated", got)
	}
	if c.Database != DefaultDatabase || c.PricePerTB != DefaultPricePerTB || c.StackName != DefaultStackName {
		t.Errorf("defaults = %q, %v, %q, want %q, %v, %q", c.Database, c.PricePerTB, c.StackName, DefaultDatabase, DefaultPricePerTB, DefaultStackName)
	}
	m := validExtractEnv()
	m[EnvStackName] = "usage-prod"
	if c, err := LoadExtract(env(m)); err != nil || c.StackName != "usage-prod" {
		t.Errorf("LoadExtract(%s=usage-prod) = %q, %v, want the stack name", EnvStackName, c.StackName, err)
	}
}

func TestLoadExtractListsEveryProblem(t *testing.T) {
	m := validExtractEnv()
	delete(m, EnvWorkgroup)
	m[EnvDataBucket] = "Bad_Bucket"
	m[EnvDatabase] = "usage; DROP TABLE x"
	m[EnvAccounts] = "1234"
	m[EnvPricePerTB] = "five"
	m[EnvProjectionStart] = "2024-13-01"
	_, err := LoadExtract(env(m))
	if err == nil {
		t.Fatal("LoadExtract accepted bad settings")
	}
	for _, want := range []string{EnvWorkgroup + " is required", EnvDataBucket, EnvDatabase, EnvAccounts, EnvPricePerTB, EnvProjectionStart} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("LoadExtract error lacks %q:\n%v", want, err)
		}
	}
}

func TestLoadLookup(t *testing.T) {
	c, err := LoadLookup(env(map[string]string{EnvRegion: "us-east-1", EnvDataBucket: "usage-data", EnvAccountID: "123456789012", EnvPartition: "aws"}))
	if err != nil {
		t.Fatalf("LoadLookup: %v", err)
	}
	// Unset tuning variables stay 0: the lookup and batchget packages own their defaults.
	if c.Rate != 0 || c.Concurrency != 0 || c.PartSize != 0 || c.MaxAttempts != 0 {
		t.Errorf("LoadLookup(no tuning variables) = %+v, want the tuning settings 0", c)
	}
	c, err = LoadLookup(env(map[string]string{EnvRegion: "us-east-1", EnvDataBucket: "usage-data", EnvAccountID: "123456789012", EnvPartition: "aws",
		EnvLookupRate: "2.5", EnvLookupConcurrency: "3", EnvLookupPartSize: "500", EnvLookupMaxAttempts: "4"}))
	if err != nil || c.Rate != 2.5 || c.Concurrency != 3 || c.PartSize != 500 || c.MaxAttempts != 4 {
		t.Errorf("LoadLookup(tuning variables) = %+v, %v, want rate 2.5, concurrency 3, part size 500, 4 attempts", c, err)
	}
	_, err = LoadLookup(env(map[string]string{EnvRegion: "us-east-1", EnvDataBucket: "usage-data", EnvLookupRate: "0", EnvLookupPartSize: "10", EnvLookupRoleName: "role/with/path",
		EnvStackName: "1stack"}))
	for _, want := range []string{EnvLookupRate, EnvLookupPartSize, EnvAccountID + " is required", EnvLookupRoleName, EnvStackName} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadLookup(bad settings) error = %v, want it to name %s", err, want)
		}
	}
}

func TestValidators(t *testing.T) {
	tests := []struct {
		name  string
		fn    func(string) error
		good  []string
		wrong []string
	}{
		{"database", ValidateDatabase, []string{"athena_usage", "_x", "db1"},
			[]string{"", "Usage", "a-b", "a.b", "a;b", "a'b", `a"b`, "a`b", "1db", "a b", "a/../b"}},
		{"bucket", ValidateBucket, []string{"usage-data", "a.b.c", "abc"},
			[]string{"", "ab", "Usage", "a_b", "a..b", "a.-b", "-ab", "ab-", "192.168.1.1", "a'b", "a;b", "a/b", "../b", strings.Repeat("a", 64)}},
		{"workgroup", ValidateWorkgroup, []string{"primary", "athena-usage.v2_x"}, []string{"", "a b", "a'b", "a;b", "a/b"}},
		{"org", ValidateOrgID, []string{"o-abcdef1234"}, []string{"o-ABC", "o-12", "abcdef1234", "o-abcdef1234/../x"}},
		{"account", ValidateAccountID, []string{"123456789012"}, []string{"12345678901", "1234567890123", "12345678901a", "123456789012;"}},
		{"region", ValidateRegion, []string{"us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-3"}, []string{"", "us_east_1", "useast1", "us-east-1'", "../us-east-1"}},
		{"stack", ValidateStackName, []string{"athena-usage", "A", "usage-2" + strings.Repeat("x", 121)},
			[]string{"", "1usage", "-usage", "athena_usage", "a b", "usage\n", strings.Repeat("x", 129)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range tt.good {
				if err := tt.fn(v); err != nil {
					t.Errorf("validate(%q) = %v, want nil", v, err)
				}
			}
			for _, v := range tt.wrong {
				if err := tt.fn(v); err == nil {
					t.Errorf("validate(%q) = nil, want an error", v)
				}
			}
		})
	}
}

func TestNormalizePrefix(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{"", "", ""},
		{"usage", "usage/", ""},
		{"a/b/", "a/b/", ""},
		{"dt=2024/x", "dt=2024/x/", ""},
		{"/abs", "", "must not start"},
		{"a//b", "", "empty path segment"},
		{"a/../b", "", `".." segments`},
		{"./a", "", `"." segments`},
		{"a'b", "", "segment"},
		{"a;b", "", "segment"},
		{"a b", "", "segment"},
		{"a\nb", "", "segment"},
	}
	for _, tt := range tests {
		got, err := NormalizePrefix(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NormalizePrefix(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizePrefix(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDay(t *testing.T) {
	for _, s := range []string{"2024-02-30", "2024-2-3", "20240203", "2024-02-03T00:00:00Z", ""} {
		if _, err := ParseDay(s); err == nil {
			t.Errorf("ParseDay(%q) = nil error, want one", s)
		}
	}
	if d, err := ParseDay("2024-02-29"); err != nil || d.Format(DayLayout) != "2024-02-29" {
		t.Errorf("ParseDay(2024-02-29) = %v, %v", d, err)
	}
}

func validAlertEnv() map[string]string {
	return map[string]string{
		EnvRegion:     "us-east-1",
		EnvDataBucket: "usage-data",
		EnvWorkgroup:  "athena-usage",
		EnvAlertTopic: "arn:aws:sns:us-east-1:123456789012:athena-usage-AlertTopic-1A2B",
		EnvStackName:  "athena-usage",
	}
}

func TestLoadAlert(t *testing.T) {
	c, err := LoadAlert(env(validAlertEnv()))
	if err != nil {
		t.Fatalf("LoadAlert: %v", err)
	}
	// Unset rules stay 0: the alert package owns their defaults.
	if c.ThresholdUSD != 0 || c.Ratio != 0 || c.MinCostUSD != 0 || c.Database != DefaultDatabase {
		t.Errorf("LoadAlert(no rules) = %+v, want the rules 0 and the default database", c)
	}
	m := validAlertEnv()
	m[EnvAlertThreshold], m[EnvAlertRatio], m[EnvAlertMinCost] = "250", "8", "2.5"
	if c, err = LoadAlert(env(m)); err != nil || c.ThresholdUSD != 250 || c.Ratio != 8 || c.MinCostUSD != 2.5 {
		t.Errorf("LoadAlert(rules) = %+v, %v, want 250, 8, 2.5", c, err)
	}
	m = validAlertEnv()
	m[EnvStackName] = "1stack"
	m[EnvAlertTopic] = "arn:aws:sqs:us-east-1:123456789012:q"
	m[EnvAlertRatio] = "0.5"
	m[EnvAlertMinCost] = "-1"
	_, err = LoadAlert(env(m))
	for _, want := range []string{EnvStackName, EnvAlertTopic, EnvAlertRatio, EnvAlertMinCost} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadAlert(bad settings) error = %v, want it to name %s", err, want)
		}
	}
}

func TestLoadLookupAlertFunction(t *testing.T) {
	base := map[string]string{EnvRegion: "us-east-1", EnvDataBucket: "usage-data", EnvAccountID: "123456789012", EnvPartition: "aws"}
	for _, tt := range []struct {
		value, want string
		ok          bool
	}{
		{"", "", true},
		{"athena-usage-alert", "athena-usage-alert", true},
		{"arn:aws:lambda:us-east-1:123456789012:function:athena-usage-alert", "arn:aws:lambda:us-east-1:123456789012:function:athena-usage-alert", true},
		{"alert function", "", false},
	} {
		m := map[string]string{EnvAlertFunction: tt.value}
		for k, v := range base {
			m[k] = v
		}
		c, err := LoadLookup(env(m))
		if (err == nil) != tt.ok || (tt.ok && c.AlertFunction != tt.want) {
			t.Errorf("LoadLookup(%s=%q) = %q, %v, want %q (ok %v)", EnvAlertFunction, tt.value, c.AlertFunction, err, tt.want, tt.ok)
		}
	}
}
