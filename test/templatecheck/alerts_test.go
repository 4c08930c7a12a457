package templatecheck

import (
	"fmt"
	"strings"
	"testing"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/test/internal/samtemplate"
)

// alertAccess is what the alert function does, and what Athena does with its credentials: its
// logs and failure queue, one query in the stack's workgroup over the views, the day's record
// of alerts, and Publish to the alert topic and no other.
func (s *stack) alertAccess() ([]access, []error) {
	c, _, err := s.loadConfig("AlertFunction")
	if err != nil {
		return nil, []error{fmt.Errorf("access checks: %w", err)}
	}
	cfg := c.(config.Alert)
	var want []access
	yes := func(action, resource string) {
		want = append(want, access{action: action, resource: resource, want: true})
	}
	no := func(action, resource string) { want = append(want, access{action: action, resource: resource}) }
	for _, a := range []string{"logs:CreateLogStream", "logs:PutLogEvents"} {
		yes(a, logStream(s.logGroupName("AlertFunction")))
		no(a, logStream(s.logGroupName("LookupFunction")))
	}
	yes("sqs:SendMessage", s.tmpl.GetAllServerlessFunctionResources()["AlertFunction"].EventInvokeConfig.DestinationConfig.OnFailure.Destination)
	wg := regional("athena") + "workgroup/" + cfg.Workgroup
	for _, a := range []string{"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution"} {
		yes(a, wg)
		no(a, regional("athena")+"workgroup/primary")
	}
	db := regional("glue") + "database/" + cfg.Database
	for _, table := range []string{athenasql.UsageDailyView, athenasql.UsageView, athenasql.QueriesTable, athenasql.APIOutputTable} {
		yes("glue:GetTable", regional("glue")+"table/"+cfg.Database+"/"+table)
		// It reads the catalog and changes nothing in it.
		no("glue:DeleteTable", regional("glue")+"table/"+cfg.Database+"/"+table)
	}
	yes("glue:GetDatabase", db)
	no("glue:CreateTable", regional("glue")+"table/"+cfg.Database+"/x")
	for _, key := range []string{athenasql.QueriesKey(cfg.DataPrefix, sampleDay), athenasql.PartKey(cfg.DataPrefix, sampleDay, 0)} {
		yes("s3:GetObject", s3ARN(cfg.DataBucket, "/"+key))
		no("s3:PutObject", s3ARN(cfg.DataBucket, "/"+key))
	}
	record := s3ARN(cfg.DataBucket, "/"+athenasql.AlertsKey(cfg.DataPrefix, sampleDay))
	yes("s3:GetObject", record)
	yes("s3:PutObject", record)
	yes("s3:GetObject", s3ARN(cfg.DataBucket, "/"+athenasql.LookupManifestKey(cfg.DataPrefix, sampleDay)))
	no("s3:DeleteObject", record)
	yes("s3:ListBucket", s3ARN(cfg.DataBucket, ""))
	var errs []error
	if loc, ok := s.outputLocation(cfg.Workgroup); !ok {
		errs = append(errs, fmt.Errorf("AlertFunction: workgroup %s has no OutputLocation in the template", cfg.Workgroup))
	} else {
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(loc, "s3://"), "/")
		yes("s3:PutObject", s3ARN(bucket, "/"+prefix+"0f8a3c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b.csv"))
		yes("s3:GetBucketLocation", s3ARN(bucket, ""))
	}
	yes("sns:Publish", cfg.TopicARN)
	no("sns:Publish", regional("sns")+"another-topic")
	return want, errs
}

// resource returns a resolved resource's properties and its type, or an error.
func (s *stack) resource(id, typ string) (map[string]any, error) {
	t, _ := samtemplate.Lookup(s.tree, "Resources", id, "Type")
	if t != typ {
		return nil, fmt.Errorf("%s: type %v, want %s", id, t, typ)
	}
	p, _ := samtemplate.Lookup(s.tree, "Resources", id, "Properties")
	props, _ := p.(map[string]any)
	return props, nil
}

// TestAlertTopic checks the alert topic and its optional email subscription.
func TestAlertTopic(t *testing.T) {
	s := loadOrFail(t)
	topic := s.names["AlertTopic"]
	if _, err := s.resource("AlertTopic", "AWS::SNS::Topic"); err != nil {
		t.Fatal(err)
	}
	if got := s.fns["AlertFunction"].Env[config.EnvAlertTopic]; got != topic {
		t.Errorf("AlertFunction: %s = %q, want the topic %s", config.EnvAlertTopic, got, topic)
	}
	sub, err := s.resource("AlertEmailSubscription", "AWS::SNS::Subscription")
	if err != nil {
		t.Fatal(err)
	}
	if sub["TopicArn"] != topic || sub["Protocol"] != "email" || sub["Endpoint"] != s.param("AlertEmail") {
		t.Errorf("AlertEmailSubscription = %v, want email to the AlertEmail parameter on %s", sub, topic)
	}
	cond, _ := samtemplate.Lookup(s.tree, "Resources", "AlertEmailSubscription", "Condition")
	want := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "AlertEmail"}, ""}}}}
	if got, _ := samtemplate.Lookup(s.tree, "Conditions", fmt.Sprint(cond)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("AlertEmailSubscription: Condition %v = %v, want it to hold only when AlertEmail is set", cond, got)
	}
	if d := s.param("AlertEmail"); d != "" {
		t.Errorf("AlertEmail defaults to %q, want empty (no subscription)", d)
	}
}

// TestAlarms checks the two pipeline alarms and that they tell the alert topic.
func TestAlarms(t *testing.T) {
	s := loadOrFail(t)
	topic := s.names["AlertTopic"]
	queueARN := s.tmpl.GetAllServerlessFunctionResources()["LookupFunction"].EventInvokeConfig.DestinationConfig.OnFailure.Destination
	queue := queueARN[strings.LastIndex(queueARN, ":")+1:]
	for _, tt := range []struct {
		id   string
		want map[string]string
	}{
		{"FailedInvocationsAlarm", map[string]string{
			"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Dimensions": "[map[Name:QueueName Value:" + queue + "]]",
			"Statistic": "Maximum", "ComparisonOperator": "GreaterThanThreshold", "Threshold": "0", "TreatMissingData": "notBreaching",
		}},
		// A missing value breaches, so a pipeline that did not run alarms; 24 hourly periods
		// that must all breach span the day between two checks and no more.
		{"DataFreshAlarm", map[string]string{
			"Namespace": "AthenaUsage", "MetricName": "DataFresh", "Dimensions": "[map[Name:Stack Value:" + standInStack + "]]",
			"Statistic": "Minimum", "ComparisonOperator": "LessThanThreshold", "Threshold": "1", "TreatMissingData": "breaching",
			"Period": "3600", "EvaluationPeriods": "24", "DatapointsToAlarm": "24",
		}},
	} {
		props, err := s.resource(tt.id, "AWS::CloudWatch::Alarm")
		if err != nil {
			t.Error(err)
			continue
		}
		for k, v := range tt.want {
			if got := fmt.Sprint(props[k]); got != v {
				t.Errorf("%s: %s = %s, want %s", tt.id, k, got, v)
			}
		}
		if got := fmt.Sprint(props["AlarmActions"]); got != "["+topic+"]" {
			t.Errorf("%s: AlarmActions = %s, want [%s]", tt.id, got, topic)
		}
	}
	if got := s.fns["AlertFunction"].Env[config.EnvStackName]; got != standInStack {
		t.Errorf("AlertFunction: %s = %q, want the stack's name, the alarm's Stack dimension", config.EnvStackName, got)
	}
	sched, _ := samtemplate.Lookup(s.tree, "Resources", "AlertFunction", "Properties", "Events", "Freshness", "Properties", "Schedule")
	if want := "cron(0 " + s.param("FreshnessHour") + " * * ? *)"; sched != want {
		t.Errorf("AlertFunction: freshness schedule %v, want %s (FreshnessHour)", sched, want)
	}
	if got := s.fns["LookupFunction"].Env[config.EnvAlertFunction]; got != s.names["AlertFunction"] {
		t.Errorf("LookupFunction: %s = %q, want the alert function %s", config.EnvAlertFunction, got, s.names["AlertFunction"])
	}
}
