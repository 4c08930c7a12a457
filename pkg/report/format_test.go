package report

import (
	"math"
	"slices"
	"testing"
)

func TestShortKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"arn:aws:iam::123456789012:user/alice", "user/alice"},
		{"arn:aws:iam::123456789012:user/division/alice", "user/division/alice"},
		{"arn:aws:sts::123456789012:assumed-role/Analyst/alice@example.com", "assumed-role/Analyst/alice@example.com"},
		{"arn:aws-cn:iam::123456789012:root", "root"},
		{"arn:aws:sts::123456789012:federated-user/bob", "federated-user/bob"},
		{"arn:broken", "arn:broken"},
		{"DataAnalyst", "DataAnalyst"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ShortKey(tt.in); got != tt.want {
			t.Errorf("ShortKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShortKeysKeepAccountWhenAmbiguous(t *testing.T) {
	in := []string{"arn:aws:iam::111111111111:user/alice", "arn:aws:iam::222222222222:user/alice", "arn:aws:iam::111111111111:user/bob", "sales"}
	want := []string{"111111111111:user/alice", "222222222222:user/alice", "user/bob", "sales"}
	if got := shortKeys(in); !slices.Equal(got, want) {
		t.Errorf("shortKeys(%q) = %q, want %q", in, got, want)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"user/alice", 20, "user/alice"},
		{"assumed-role/DataAnalyst/carol@example.com", 20, "assumed-ro…ample.com"},
		{"héllo wörld", 5, "hé…ld"},
		{"abc", 1, "a"},
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestHumanUnits(t *testing.T) {
	bytes := []struct {
		in   int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.00 KiB"}, {1536, "1.50 KiB"},
		{1_320_702_444, "1.23 GiB"}, {1023 << 20, "1.00 GiB"},
		{10 << 20, "10.0 MiB"}, {5 << 40, "5.00 TiB"}, {math.MaxInt64, "8.00 EiB"},
	}
	for _, tt := range bytes {
		if got := HumanBytes(tt.in); got != tt.want {
			t.Errorf("HumanBytes(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
	costs := []struct {
		in   float64
		want string
	}{
		{0, "$0.0000"}, {0.0000476837, "$0.0000"}, {0.0123, "$0.0123"}, {12.3456, "$12.3456"}, {1234.567, "$1,234.57"},
	}
	for _, tt := range costs {
		if got := money(tt.in); got != tt.want {
			t.Errorf("money(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	durations := []struct {
		in   int64
		want string
	}{
		{850, "850ms"}, {12_345, "12.3s"}, {245_000, "4m05s"}, {3*3_600_000 + 2*60_000 + 5000, "3h02m"},
	}
	for _, tt := range durations {
		if got := duration(tt.in); got != tt.want {
			t.Errorf("duration(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567"} {
		if got := commas(in); got != want {
			t.Errorf("commas(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestTop(t *testing.T) {
	var groups []Group
	for i := range 25 {
		groups = append(groups, Group{Key: string(rune('a' + i)), Queries: int64(i), CostUSD: float64(i)})
	}
	got := top(groups, 20, func(g Group) float64 { return float64(g.Queries) })
	if len(got) != 21 || got[0].Key != "y" || got[20].Key != "other (5 more)" {
		t.Fatalf("top(25 groups, 20) = %d groups, first %q, last %q; want 21, y, other (5 more)", len(got), got[0].Key, got[len(got)-1].Key)
	}
	if want := int64(0 + 1 + 2 + 3 + 4); got[20].Queries != want {
		t.Errorf("top(25 groups, 20) other queries = %d, want %d", got[20].Queries, want)
	}
	if got := top(groups[:21], 20, func(g Group) float64 { return 0 }); len(got) != 21 || got[0].Key != "a" {
		t.Errorf("top(21 equal groups, 20) = %d groups starting %q, want all 21 by key", len(got), got[0].Key)
	}
}

func TestFitKey(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"user/alice", 32, "user/alice"},
		{"assumed-role/DataAnalyst/carol@example.com", 42, "assumed-role/DataAnalyst/carol@example.com"},
		{"assumed-role/DataAnalyst/carol@example.com", 32, "DataAnalyst/carol@example.com"},
		{"assumed-role/AWSReservedSSO_DataEngineer_0123456789abcdef/erin@example.com", 46, "assumed-role/SSO_DataEngineer/erin@example.com"},
		{"assumed-role/AWSReservedSSO_DataEngineer_0123456789abcdef/erin@example.com", 40, "SSO_DataEngineer/erin@example.com"},
		{"assumed-role/AWSReservedSSO_DataEngineer_0123456789abcdef/erin.o'neil@example.com", 32, "SSO_DataEngine…/erin.o'neil@exa…"},
		{"assumed-role/quicksight-service-role/QuickSight-Refresh-1a2b3c4d5e6f", 32, "quicksight-ser…/QuickSight-Refr…"},
		{"assumed-role/r/" + "session-name-that-is-very-long-indeed", 20, "r/session-name-that…"},
		{"user/" + "a-very-long-user-name-for-a-table", 20, "user/a-ver…r-a-table"},
	}
	for _, tt := range tests {
		got := fitKey(tt.in, tt.n)
		if got != tt.want {
			t.Errorf("fitKey(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
		if n := len([]rune(got)); n > tt.n {
			t.Errorf("fitKey(%q, %d) is %d characters long", tt.in, tt.n, n)
		}
	}
}

func TestValueTicks(t *testing.T) {
	tests := []struct {
		name   string
		ticks  valueTicks
		lo, hi float64
		want   []string
	}{
		{"counts", valueTicks{integer: true, format: countTick}, 0, 7647, []string{"0", "2,500", "5,000", "7,500"}},
		{"few counts", valueTicks{integer: true, format: countTick}, 0, 3, []string{"0", "1", "2", "3"}},
		{"cost", valueTicks{format: moneyTick}, 0, 3, []string{"$0", "$1", "$2", "$3"}},
	}
	for _, tt := range tests {
		var got []string
		for _, tk := range tt.ticks.Ticks(tt.lo, tt.hi) {
			got = append(got, tk.Label)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: Ticks(%v, %v) = %q, want %q", tt.name, tt.lo, tt.hi, got, tt.want)
		}
	}
}
