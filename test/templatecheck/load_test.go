package templatecheck

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation"

	"github.com/athenausage/athena-usage/test/internal/samtemplate"
)

var (
	templatePath = flag.String("template", "../../template.yaml", "SAM template to check")
	makefilePath = flag.String("makefile", "../../Makefile", "Makefile that builds the functions")
)

// Stand-ins for what CloudFormation only knows at deploy time. They are valid values, so that
// the config loaders accept them exactly when they would accept the real ones.
const (
	standInStack     = "athena-usage"
	standInAccount   = "123456789012"
	standInRegion    = "us-east-1"
	standInPartition = "aws"
	standInSuffix    = "1a2b3c4d5e6f"
)

// paramStandIns are values for the parameters that have no default; sam deploy asks for them.
var paramStandIns = map[string]string{
	"CloudTrailBucket": "example-cloudtrail-logs",
	"AccountIds":       "111111111111,222222222222",
}

// Optional parameters that add grants or settings when they are set.
const (
	paramKMSKey              = "CloudTrailKmsKeyArn"
	paramGlueKey             = "GlueCatalogKmsKeyArn"
	paramLookupRoleName      = "LookupRoleName"
	paramReservedConcurrency = "ReservedConcurrency"
)

// optionStandIns set the optional parameters, so that the checks see the widest policies the
// template can make; TestOptionalGrantsOff and checkNewAccount check the defaults. The trail's
// key is in another account and region than the stack, as an organization trail's key often
// is; the catalog's key is the stack's own.
var optionStandIns = map[string]string{
	paramKMSKey:              "arn:aws:kms:eu-west-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	paramGlueKey:             "arn:aws:kms:us-east-1:123456789012:key/5678efgh-56ef-78ab-90cd-5678901234ef",
	paramLookupRoleName:      "athena-usage-member-lookup",
	paramReservedConcurrency: "1",
}

// stack is a template loaded with its intrinsic functions resolved to stand-in values.
type stack struct {
	tmpl *cloudformation.Template
	// tree is the resolved template as generic JSON, for the parts whose goformation types lose
	// information (SAM's Policies union decodes a list of statements as empty policy templates).
	tree map[string]any
	// names holds what Ref returns for each resource, such as a bucket's name.
	names map[string]string
	// fns are the serverless functions with Globals merged in, by logical ID.
	fns map[string]samtemplate.Function
	// params are the parameter values given at load, over the template's defaults.
	params map[string]string
	// raw is the template's text, for the checks that load it again with other parameters.
	raw []byte
}

// param returns a parameter's value: the one given at load, or the template's default.
func (s *stack) param(name string) string {
	if v, ok := s.params[name]; ok {
		return v
	}
	if d, ok := samtemplate.Lookup(s.tree, "Parameters", name, "Default"); ok {
		return fmt.Sprint(d)
	}
	return ""
}

// loadOrFail loads the template named by -template and stops the test if it cannot.
func loadOrFail(t *testing.T) *stack {
	t.Helper()
	s, err := loadFile(*templatePath)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// loadFile loads the template at path with the stand-ins and the optional parameters set.
func loadFile(path string) (*stack, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := load(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// load parses a YAML template, resolving its intrinsic functions to the stand-ins, with the
// optional parameters set. Every reference must resolve: one that does not is the kind of
// mistake these tests look for.
func load(data []byte) (*stack, error) {
	params := maps.Clone(paramStandIns)
	maps.Copy(params, optionStandIns)
	return loadWith(data, params)
}

// loadWith is load with the given parameter values; the others keep the template's defaults.
func loadWith(data []byte, params map[string]string) (*stack, error) {
	t, err := samtemplate.Load(data, samtemplate.Values{
		StackName:  standInStack,
		Region:     standInRegion,
		AccountID:  standInAccount,
		Partition:  standInPartition,
		Params:     params,
		NameSuffix: standInSuffix,
	})
	if err != nil {
		return nil, err
	}
	if len(t.Unresolved) > 0 {
		return nil, fmt.Errorf("resolve intrinsic functions: %s", strings.Join(t.Unresolved, "; "))
	}
	fns, err := t.Functions()
	if err != nil {
		return nil, err
	}
	return &stack{tmpl: t.Template, tree: t.Tree, names: t.Names, fns: fns, params: params, raw: data}, nil
}

// sortedKeys returns a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
