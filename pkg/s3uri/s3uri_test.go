package s3uri

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		in, bucket, key string
		ok              bool
	}{
		{"s3://b/k.csv", "b", "k.csv", true},
		{"s3://b/a/b/c.csv", "b", "a/b/c.csv", true},
		{"s3://b/", "b", "", true},
		{"s3://b", "b", "", true},
		{"https://b/k", "", "", false},
		{"s3:///k", "", "", false},
	}
	for _, tt := range tests {
		b, k, err := Parse(tt.in)
		if (err == nil) != tt.ok || b != tt.bucket || k != tt.key {
			t.Errorf("Parse(%q) = %q, %q, %v, want %q, %q, ok %v", tt.in, b, k, err, tt.bucket, tt.key, tt.ok)
		}
	}
}
