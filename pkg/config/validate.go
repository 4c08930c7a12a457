// Package config loads and validates the settings of athena-usage. It is the only package that
// reads environment variables, and it validates every value that ends up inside SQL or an S3 key
// against a strict pattern, so that the SQL templates only ever see safe text.
package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// DayLayout is the layout of a day in events, flags and partition values.
const DayLayout = "2006-01-02"

var (
	databasePattern  = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,254}$`)
	workgroupPattern = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,128}$`)
	bucketPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	ipPattern        = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)
	segmentPattern   = regexp.MustCompile(`^[A-Za-z0-9_.=-]+$`)
	orgIDPattern     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	accountPattern   = regexp.MustCompile(`^[0-9]{12}$`)
	roleNamePattern  = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
	dayPattern       = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	regionPattern    = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]{0,2})?-[a-z]+-[0-9]{1,2}$`)
	topicARNPattern  = regexp.MustCompile(`^arn:aws(-[a-z]+){0,2}:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$`)
	stackNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	// functionPattern is a function's name, or its ARN (with a version or alias).
	functionPattern = regexp.MustCompile(`^(arn:aws(-[a-z]+){0,2}:lambda:[a-z0-9-]+:[0-9]{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$`)
)

// ValidateTopicARN checks the ARN of an SNS standard topic.
func ValidateTopicARN(arn string) error {
	if !topicARNPattern.MatchString(arn) {
		return fmt.Errorf("topic ARN %q: want arn:aws:sns:<region>:<account>:<name>", arn)
	}
	return nil
}

// ValidateFunction checks a Lambda function's name or ARN.
func ValidateFunction(name string) error {
	if !functionPattern.MatchString(name) {
		return fmt.Errorf("function %q: want a function name or ARN", name)
	}
	return nil
}

// ValidateDatabase checks a Glue database name: lower case letters, digits and underscores.
func ValidateDatabase(name string) error {
	if !databasePattern.MatchString(name) {
		return fmt.Errorf("database %q: want lower-case letters, digits and underscores, starting with a letter or underscore", name)
	}
	return nil
}

// ValidateWorkgroup checks an Athena workgroup name.
func ValidateWorkgroup(name string) error {
	if !workgroupPattern.MatchString(name) {
		return fmt.Errorf("workgroup %q: want 1-128 letters, digits, '.', '_' or '-'", name)
	}
	return nil
}

// ValidateBucket checks an S3 bucket name by the rules for general purpose buckets.
func ValidateBucket(name string) error {
	switch {
	case !bucketPattern.MatchString(name):
		return fmt.Errorf("bucket %q: want 3-63 lower-case letters, digits, '.' or '-', starting and ending with a letter or digit", name)
	case strings.Contains(name, ".."), strings.Contains(name, ".-"), strings.Contains(name, "-."):
		return fmt.Errorf("bucket %q: adjacent '.' and '-' are not allowed", name)
	case ipPattern.MatchString(name):
		return fmt.Errorf("bucket %q: must not look like an IP address", name)
	}
	return nil
}

// NormalizePrefix validates an S3 key prefix and returns it with exactly one trailing slash, or ""
// for an empty prefix. Segments may hold letters, digits, '_', '.', '=' and '-'; "." and ".."
// segments, empty segments and leading slashes are rejected, because they change which objects
// a LOCATION names.
func NormalizePrefix(prefix string) (string, error) {
	if prefix == "" {
		return "", nil
	}
	if strings.HasPrefix(prefix, "/") {
		return "", fmt.Errorf("prefix %q: must not start with '/'", prefix)
	}
	trimmed := strings.TrimSuffix(prefix, "/")
	if len(trimmed) > 512 {
		return "", fmt.Errorf("prefix %q: longer than 512 characters", prefix)
	}
	for _, seg := range strings.Split(trimmed, "/") {
		switch {
		case seg == "":
			return "", fmt.Errorf("prefix %q: empty path segment", prefix)
		case seg == "." || seg == "..":
			return "", fmt.Errorf("prefix %q: %q segments are not allowed", prefix, seg)
		case !segmentPattern.MatchString(seg):
			return "", fmt.Errorf("prefix %q: segment %q may hold only letters, digits, '_', '.', '=' and '-'", prefix, seg)
		}
	}
	return trimmed + "/", nil
}

// ValidateOrgID checks an AWS Organizations ID such as o-a1b2c3d4e5.
func ValidateOrgID(id string) error {
	if !orgIDPattern.MatchString(id) {
		return fmt.Errorf("organization ID %q: want o- followed by 10-32 lower-case letters or digits", id)
	}
	return nil
}

// ValidateAccountID checks a 12-digit AWS account ID.
func ValidateAccountID(id string) error {
	if !accountPattern.MatchString(id) {
		return fmt.Errorf("account ID %q: want 12 digits", id)
	}
	return nil
}

// ValidateRegion checks an AWS region name such as eu-west-1.
func ValidateRegion(region string) error {
	if !regionPattern.MatchString(region) {
		return fmt.Errorf("region %q: want a region name such as us-east-1", region)
	}
	return nil
}

// ValidateRoleName checks an IAM role name (without a path).
func ValidateRoleName(name string) error {
	if !roleNamePattern.MatchString(name) {
		return fmt.Errorf("role name %q: want 1-64 letters, digits or +=,.@_-", name)
	}
	return nil
}

// ValidateStackName checks a CloudFormation stack name, which becomes a metric dimension's value.
func ValidateStackName(name string) error {
	if !stackNamePattern.MatchString(name) {
		return fmt.Errorf("stack name %q: want 1-128 letters, digits or '-', starting with a letter", name)
	}
	return nil
}

// ParseDay parses a UTC day in the form YYYY-MM-DD.
func ParseDay(s string) (time.Time, error) {
	if !dayPattern.MatchString(s) {
		return time.Time{}, fmt.Errorf("day %q: want YYYY-MM-DD", s)
	}
	t, err := time.Parse(DayLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("day %q: not a calendar day", s)
	}
	return t, nil
}

// ValidatePrice checks a price per TB scanned in USD.
func ValidatePrice(price float64) error {
	if !(price >= 0 && price <= 1000) {
		return fmt.Errorf("price per TB %v: want a number from 0 to 1000", price)
	}
	return nil
}

// partitionPattern matches an ARN partition: aws, aws-cn, aws-us-gov, aws-iso-b and the like.
var partitionPattern = regexp.MustCompile(`^aws(-[a-z]+){0,2}$`)

// ValidatePartition checks an ARN partition, which becomes part of role ARNs.
func ValidatePartition(partition string) error {
	if !partitionPattern.MatchString(partition) {
		return fmt.Errorf("partition %q: want aws, aws-cn, aws-us-gov or another aws-... partition", partition)
	}
	return nil
}
