-- One dashboard visual over [{{.From}}, {{.To}}], as the dashboard computes it: the rows of
-- its dataset (the dashboard_*.sql text, unchanged) in the date filter's window, summed per
-- the visual's {{.Keys}}.
SELECT {{.Keys}}, {{.Sums}}
FROM (
{{.Dataset}}
) AS dataset
WHERE day BETWEEN DATE '{{.From}}' AND DATE '{{.To}}'
GROUP BY {{.Keys}}
ORDER BY {{.Keys}}
