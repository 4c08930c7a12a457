package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/local/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Ingested describes the CloudTrail files put into the local trail bucket.
type Ingested struct {
	Files    int
	Bytes    int64
	Records  int
	Accounts []string
	Regions  []string
	// OrgID is set when the files come from an organization trail.
	OrgID string
	// FirstDay and LastDay are the delivery folders' days.
	FirstDay, LastDay time.Time
	// Skipped are the files left out, each error naming the file and what was wrong.
	Skipped []error
	// Ignored counts files that are not logs (digests, other folders), left out quietly.
	Ignored int
}

// IngestCloudTrail copies the CloudTrail log files under root, a folder at any level of the tree
// as CloudTrail writes it (the trail prefix, AWSLogs, an account, a region or a day), into the
// local trail bucket under AWSLogs/. Malformed files are skipped and reported; the accounts and
// regions are discovered from the paths.
func (s *Stack) IngestCloudTrail(ctx context.Context, root string) (Ingested, error) {
	var in Ingested
	abs, err := filepath.Abs(root)
	if err != nil {
		return in, fmt.Errorf("cloudtrail folder %s: %w", root, err)
	}
	// WalkDir does not follow a root that is a symlink; a trail folder linked from elsewhere is
	// common, so resolve it first.
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return in, fmt.Errorf("cloudtrail folder: %w", err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return in, fmt.Errorf("cloudtrail folder: %w", err)
	}
	if !info.IsDir() {
		return in, fmt.Errorf("cloudtrail folder %s: not a directory", root)
	}
	accounts, regions, orgs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			in.Skipped = append(in.Skipped, fmt.Errorf("%s: %w", path, err))
			return nil
		}
		if d.IsDir() {
			return nil
		}
		k, err := cloudtrail.ParseKey(filepath.ToSlash(path))
		if err != nil {
			if isLogName(path) && !strings.Contains(path, "CloudTrail-Digest") {
				in.Skipped = append(in.Skipped, err)
			} else {
				in.Ignored++
			}
			return nil
		}
		if cloudtrail.Hidden(d.Name()) {
			in.Skipped = append(in.Skipped, fmt.Errorf("%s: the name starts with %q, and Athena reads no such file", path, d.Name()[:1]))
			return nil
		}
		f, n, size, err := checkLog(path)
		if err != nil {
			in.Skipped = append(in.Skipped, err)
			return nil
		}
		// What was counted is what is uploaded: the same open file, read again from the start.
		_, err = s.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(TrailBucket),
			Key:           aws.String(k.RelativeKey()),
			Body:          io.NewSectionReader(f, 0, size),
			ContentLength: aws.Int64(size),
		})
		f.Close()
		if err != nil {
			return fmt.Errorf("upload %s: %w", path, err)
		}
		in.Files++
		in.Bytes += size
		in.Records += n
		accounts[k.Account], regions[k.Region], orgs[k.OrgID] = true, true, true
		if in.FirstDay.IsZero() || k.Day.Before(in.FirstDay) {
			in.FirstDay = k.Day
		}
		if k.Day.After(in.LastDay) {
			in.LastDay = k.Day
		}
		return nil
	})
	if err != nil {
		return in, err
	}
	if in.Files == 0 {
		return in, fmt.Errorf("no CloudTrail log files under %s (want AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz)", root)
	}
	if len(orgs) > 1 {
		return in, errors.New("the folder mixes organization and account trails: give one trail's folder")
	}
	for o := range orgs {
		in.OrgID = o
	}
	in.Accounts, in.Regions = sortedKeys(accounts), sortedKeys(regions)
	return in, nil
}

// checkLog opens the log file at path and checks it a record at a time: the open file, its
// records and its size. A file over cloudtrail.MaxFileBytes, or that cloudtrail.CountLog
// refuses, is an error naming it.
func checkLog(path string) (*os.File, int, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	info, err := f.Stat()
	if err == nil && info.Size() > cloudtrail.MaxFileBytes {
		err = fmt.Errorf("over the %d-byte limit on a log file", cloudtrail.MaxFileBytes)
	}
	if err != nil {
		f.Close()
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	n, err := cloudtrail.CountLog(io.LimitReader(f, cloudtrail.MaxFileBytes), path)
	if err != nil {
		f.Close()
		return nil, 0, 0, err
	}
	return f, n, info.Size(), nil
}

func isLogName(path string) bool {
	return strings.HasSuffix(path, ".json.gz") || strings.HasSuffix(path, ".json")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// LoadHistory loads a query history into the Athena stand-in: a file (JSON Lines or the AWS
// CLI's pretty-printed output, see local/history) or a folder of such files, read in name order,
// leaving out names that start with "." or "_". Bad entries are returned as problems naming
// the file and line; the rest are loaded.
func (s *Stack) LoadHistory(path string) (loaded int, problems []error, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, nil, fmt.Errorf("history: %w", err)
	}
	files := []string{path}
	if info.IsDir() {
		if files, err = historyFiles(path); err != nil {
			return 0, nil, err
		}
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return loaded, problems, fmt.Errorf("history: %w", err)
		}
		n, p := s.athena.LoadHistory(f, name)
		f.Close()
		loaded += n
		problems = append(problems, p...)
	}
	return loaded, problems, nil
}

// historyFiles lists the regular files of a history folder.
func historyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		if info, err := os.Stat(filepath.Join(dir, name)); err == nil && info.Mode().IsRegular() {
			out = append(out, filepath.Join(dir, name))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("history folder %s holds no files", dir)
	}
	return out, nil
}
