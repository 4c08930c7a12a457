package templatecheck

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func report(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		t.Error(err)
	}
}

func TestFunctions(t *testing.T) { report(t, checkFunctions(loadOrFail(t))) }

func TestIAMLeastPrivilege(t *testing.T) { report(t, checkIAM(loadOrFail(t))) }

func TestRolesAllowWhatFunctionsDo(t *testing.T) { report(t, checkAccess(loadOrFail(t))) }

func TestBuckets(t *testing.T) { report(t, checkBuckets(loadOrFail(t))) }

func TestWorkgroups(t *testing.T) { report(t, checkWorkgroups(loadOrFail(t))) }

func TestLogGroups(t *testing.T) { report(t, checkLogGroups(loadOrFail(t))) }

func TestDeploysInNewAccount(t *testing.T) { report(t, checkNewAccount(loadOrFail(t))) }

func TestTeardown(t *testing.T) { report(t, checkTeardown(loadOrFail(t))) }

func TestMakefileTargets(t *testing.T) {
	mk, err := os.ReadFile(*makefilePath)
	if err != nil {
		t.Fatal(err)
	}
	report(t, checkMakefile(loadOrFail(t), string(mk)))
}

// TestMakefileBuildsForLambda checks what the build-<LogicalId> targets would run, without
// running it: a static linux/arm64 bootstrap of the function's own main package.
func TestMakefileBuildsForLambda(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	mk, err := filepath.Abs(*makefilePath)
	if err != nil {
		t.Fatal(err)
	}
	artifacts := filepath.Join(t.TempDir(), "artifacts")
	for id := range loadOrFail(t).tmpl.GetAllServerlessFunctionResources() {
		t.Run(id, func(t *testing.T) {
			cmd := exec.Command("make", "--no-print-directory", "-n", "-f", mk, "-C", filepath.Dir(mk),
				"build-"+id, "ARTIFACTS_DIR="+artifacts)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n build-%s: %v\n%s", id, err, out)
			}
			dir := "./functions/" + strings.ToLower(strings.TrimSuffix(id, "Function"))
			for _, want := range []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "lambda.norpc",
				"-o " + artifacts + "/bootstrap", dir} {
				if !strings.Contains(string(out), want) {
					t.Errorf("make -n build-%s = %q, want it to contain %q", id, out, want)
				}
			}
		})
	}
}

// allChecks runs every check on a template and Makefile.
func allChecks(s *stack, makefile string) []error {
	var errs []error
	errs = append(errs, checkFunctions(s)...)
	errs = append(errs, checkIAM(s)...)
	errs = append(errs, checkAccess(s)...)
	errs = append(errs, checkBuckets(s)...)
	errs = append(errs, checkWorkgroups(s)...)
	errs = append(errs, checkMakefile(s, makefile)...)
	errs = append(errs, checkOptionalGrants(s)...)
	errs = append(errs, checkLogGroups(s)...)
	errs = append(errs, checkNewAccount(s)...)
	errs = append(errs, checkTeardown(s)...)
	return errs
}

// TestOptionalGrantsOff checks the template with the optional parameters at their defaults:
// every check passes, no role has the KMS or STS grants that those parameters add, and no
// function reserves concurrency.
func TestOptionalGrantsOff(t *testing.T) {
	data, err := os.ReadFile(*templatePath)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(*makefilePath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := loadWith(data, paramStandIns)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{paramKMSKey, paramGlueKey, paramLookupRoleName} {
		if s.param(p) != "" {
			t.Fatalf("parameter %s is %q; this test is about its default, empty", p, s.param(p))
		}
	}
	if got := s.param(paramReservedConcurrency); got != "0" {
		t.Errorf("parameter %s defaults to %s, want 0: a new account could not create the stack", paramReservedConcurrency, got)
	}
	report(t, allChecks(s, string(mk)))
	roles, _ := roleStatements(s)
	for _, id := range sortedKeys(roles) {
		for _, st := range roles[id] {
			for _, a := range st.actions {
				if svc, _, _ := strings.Cut(strings.ToLower(a), ":"); svc == "kms" || svc == "sts" {
					t.Errorf("%s: grants %s with the optional parameters empty", st.where, a)
				}
			}
		}
	}
}

// TestChecksCatchRegressions breaks the template (or Makefile) one way at a time and expects the
// checks to name the breakage, so that a check that can no longer fail is noticed.
func TestChecksCatchRegressions(t *testing.T) {
	tmplText, err := os.ReadFile(*templatePath)
	if err != nil {
		t.Fatal(err)
	}
	mkText, err := os.ReadFile(*makefilePath)
	if err != nil {
		t.Fatal(err)
	}
	base, err := load(tmplText)
	if err != nil {
		t.Fatal(err)
	}
	if errs := allChecks(base, string(mkText)); len(errs) > 0 {
		t.Fatalf("the unbroken template fails the checks: %v", joinErrs(errs))
	}

	for _, tc := range regressions {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, mk := string(tmplText), string(mkText)
			target := &tmpl
			if tc.makefile {
				target = &mk
			}
			if !strings.Contains(*target, tc.old) {
				t.Fatalf("the text to break, %q, is gone; update this case", tc.old)
			}
			*target = strings.Replace(*target, tc.old, tc.new, 1)
			load := load
			if tc.params != nil {
				load = func(data []byte) (*stack, error) {
					params := maps.Clone(paramStandIns)
					maps.Copy(params, tc.params)
					return loadWith(data, params)
				}
			}
			s, err := load([]byte(tmpl))
			if err != nil {
				t.Fatalf("load broken template: %v", err)
			}
			errs := allChecks(s, mk)
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.want) {
					return
				}
			}
			t.Errorf("checks of the template with %q replaced by %q = %v, want an error containing %q",
				tc.old, tc.new, joinErrs(errs), tc.want)
		})
	}
}
