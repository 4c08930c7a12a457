package report

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

const (
	// MaxChartRows is how many users or databases a chart shows before folding the rest into
	// "other": beyond about 20 bars the labels stop being readable.
	MaxChartRows = 20
	// maxHeatColumns keeps heat map cells wide enough for their value labels.
	maxHeatColumns = 10
	// maxLabel is the longest axis label, in characters; longer ones are shortened by fitKey.
	maxLabel = 34

	heatWidth vg.Length = 560 // points, about 750 CSS pixels: the heat map spans the page
	barsWidth vg.Length = 420 // points, about 560 CSS pixels: two bar charts side by side
	rowHeight vg.Length = 18
	barWidth  vg.Length = 12
)

// sansFont is Liberation Sans, metric-compatible with Arial and Helvetica, so that the label
// widths gonum measures match what a browser without Liberation draws.
var sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// series is one segment of a stacked bar.
type series struct {
	name  string
	color color.RGBA
	value func(Group) float64
}

var (
	colorSucceeded = color.RGBA{0x3a, 0x9d, 0x5d, 0xff}
	colorFailed    = color.RGBA{0xd1, 0x49, 0x5b, 0xff}
	colorCancelled = color.RGBA{0xed, 0xae, 0x49, 0xff}
	colorUnknown   = color.RGBA{0xa0, 0xaa, 0xb4, 0xff}
	colorRefused   = color.RGBA{0x7b, 0x5e, 0xa7, 0xff}
	colorCost      = color.RGBA{0x2f, 0x6f, 0xb0, 0xff}
	colorGrid      = color.RGBA{0xe2, 0xe6, 0xea, 0xff}
	colorEmpty     = color.RGBA{0xf4, 0xf5, 0xf6, 0xff}
	colorText      = color.RGBA{0x22, 0x2b, 0x33, 0xff}

	// heatStops is a light-to-dark blue scale: darker means more MB per query.
	heatStops = []color.RGBA{{0xee, 0xf4, 0xfb, 0xff}, {0x6b, 0xae, 0xd6, 0xff}, {0x08, 0x30, 0x6b, 0xff}}
)

// querySeries splits a group's queries by final state. Queries Athena returned no state for
// (no statistics, or still running when looked up) make up the last segment, so that the bar's
// length is the number of queries.
var querySeries = []series{
	{"succeeded", colorSucceeded, func(g Group) float64 { return float64(g.Succeeded) }},
	{"failed", colorFailed, func(g Group) float64 { return float64(g.Failed) }},
	{"cancelled", colorCancelled, func(g Group) float64 { return float64(g.Cancelled) }},
	{"no statistics", colorUnknown, func(g Group) float64 {
		return float64(max(g.Queries-g.Succeeded-g.Failed-g.Cancelled, 0))
	}},
}

var costSeries = []series{{"cost", colorCost, func(g Group) float64 { return g.CostUSD }}}

// failureSeries splits what went wrong for a user: queries that ran and failed, and submissions
// Athena refused before a query existed.
var failureSeries = []series{
	{"failed", colorFailed, func(g Group) float64 { return float64(g.Failed) }},
	{"refused", colorRefused, func(g Group) float64 { return float64(g.FailedSubmissions) }},
}

// chart is one figure of the HTML page.
type chart struct {
	Title    string
	Caption  string
	Wide     bool // spans the page: the heat map and the trend need the width
	SVG      template.HTML
	Swatches []swatch
	Scale    *scale
}

// swatch is one legend entry, drawn in HTML so that it never covers a bar.
type swatch struct {
	Name  string
	Color template.CSS
}

// scale is the colour legend of the heat map.
type scale struct {
	Gradient  template.CSS
	Low, High string
}

func css(c color.RGBA) template.CSS {
	return template.CSS(fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B))
}

func swatches(ss []series) []swatch {
	out := make([]swatch, len(ss))
	for i, s := range ss {
		out[i] = swatch{s.name, css(s.color)}
	}
	return out
}

// charts draws the six charts of the page, the dashboard's visuals.
func charts(r *Report) ([]chart, error) {
	heat, err := heatChart(r.UserDatabase)
	if err != nil {
		return nil, fmt.Errorf("chart average MB scanned: %w", err)
	}
	trend, err := trendChart(r.DailyCost)
	if err != nil {
		return nil, fmt.Errorf("chart daily cost: %w", err)
	}
	out := []chart{heat, trend}
	for _, c := range []struct {
		title, caption string
		groups         []Group
		ss             []series
		integer        bool
		label          func(float64) string
		tick           func(float64, string) string
	}{
		{"Queries per user", "Queries each user started, by final state.",
			r.QueriesPerUser, querySeries, true, countLabel, countTick},
		{"Queries per database", "Queries run in each database, by final state.",
			r.QueriesPerDatabase, querySeries, true, countLabel, countTick},
		{"Cost per user", "Estimated Athena cost of each user's queries.",
			r.CostPerUser, costSeries, false, money, moneyTick},
		{"Failed and refused queries per user", "Queries that ran and failed, and StartQueryExecution calls Athena refused before a query existed (no query ID).",
			r.FailuresPerUser, failureSeries, true, countLabel, countTick},
	} {
		value := func(g Group) float64 {
			var v float64
			for _, s := range c.ss {
				v += s.value(g)
			}
			return v
		}
		groups := top(c.groups, MaxChartRows, value)
		ch := chart{Title: c.title, Caption: c.caption + foldNote(len(c.groups), MaxChartRows),
			Swatches: swatches(c.ss)}
		if len(c.ss) == 1 {
			ch.Swatches = nil
		}
		ch.SVG, err = barChart(c.title, groups, c.ss, c.integer, c.label, c.tick)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", strings.ToLower(c.title), err)
		}
		out = append(out, ch)
	}
	return out, nil
}

// foldNote says when a chart folded rows into "other", as a sentence to append to a caption.
func foldNote(n, limit int) string {
	if n <= limit+1 {
		return ""
	}
	return fmt.Sprintf(" The largest %d are shown, and the other %d together.", limit, n-limit)
}

func countLabel(v float64) string { return commas(int64(math.Round(v))) }

// countTick relabels a tick of a count axis; gonum's label may carry decimals ("2500.00").
func countTick(v float64, _ string) string { return commas(int64(math.Round(v))) }

// moneyTick relabels a tick of a cost axis, keeping gonum's choice of decimals.
func moneyTick(_ float64, label string) string { return "$" + label }

// newPlot returns a plot with the page's fonts and no title (the page shows titles in HTML).
func newPlot() *plot.Plot {
	p := plot.New()
	for _, s := range []*text.Style{&p.X.Tick.Label, &p.Y.Tick.Label} {
		s.Font = font.From(sansFont, 9)
		s.Color = colorText
	}
	for _, s := range []*text.Style{&p.X.Label.TextStyle, &p.Y.Label.TextStyle} {
		s.Font = font.From(sansFont, 10)
		s.Color = colorText
	}
	p.X.LineStyle.Color, p.Y.LineStyle.Color = colorText, colorText
	p.X.Tick.LineStyle.Color, p.Y.Tick.LineStyle.Color = colorText, colorText
	return p
}

// labels shortens ARNs and cuts long names so that axis labels stay readable.
func labels(keys []string) []string {
	out := shortKeys(keys)
	for i := range out {
		out[i] = fitKey(out[i], maxLabel)
	}
	return out
}

// barChart draws horizontal stacked bars, the first group at the top, with each bar's total at
// its end.
func barChart(title string, groups []Group, ss []series, integer bool, label func(float64) string, tick func(float64, string) string) (template.HTML, error) {
	if len(groups) == 0 {
		return noData(title)
	}
	n := len(groups)
	keys := make([]string, n)
	totals := make(plotter.XYs, n)
	var most float64
	// NominalY puts the first name at the bottom; reverse so the largest bar is on top.
	row := func(i int) int { return n - 1 - i }
	for i, g := range groups {
		keys[row(i)] = g.Key
		var t float64
		for _, s := range ss {
			t += s.value(g)
		}
		totals[row(i)] = plotter.XY{X: t, Y: float64(row(i))}
		most = max(most, t)
	}

	p := newPlot()
	grid := plotter.NewGrid()
	grid.Horizontal.Color = nil
	grid.Vertical.Color = colorGrid
	grid.Vertical.Width = vg.Points(0.5)
	p.Add(grid)

	var below *plotter.BarChart
	for _, s := range ss {
		vals := make(plotter.Values, n)
		for i, g := range groups {
			vals[row(i)] = s.value(g)
		}
		b, err := plotter.NewBarChart(vals, barWidth)
		if err != nil {
			return "", fmt.Errorf("bars %s: %w", s.name, err)
		}
		b.Horizontal = true
		b.Color = s.color
		b.LineStyle.Width = 0
		if below != nil {
			b.StackOn(below)
		}
		p.Add(b)
		below = b
	}

	texts := make([]string, n)
	for i, xy := range totals {
		texts[i] = label(xy.X)
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: totals, Labels: texts})
	if err != nil {
		return "", fmt.Errorf("bar labels: %w", err)
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Font = font.From(sansFont, 8)
		l.TextStyle[i].Color = colorText
		l.TextStyle[i].YAlign = draw.YCenter
	}
	l.Offset = vg.Point{X: vg.Points(3)}
	p.Add(l)

	p.NominalY(labels(keys)...)
	p.X.Min = 0
	p.X.Max = most
	if most == 0 {
		p.X.Max = 1
	}
	p.X.Tick.Marker = valueTicks{integer: integer, format: tick}
	p.X.Padding = vg.Points(2)
	p.Y.Padding = vg.Points(4)
	h := vg.Points(36) + rowHeight*vg.Length(n)
	return toSVG(p, barsWidth, h, title)
}

// valueTicks are gonum's default major ticks on a value axis, relabelled, and without fractional
// ticks on an axis of counts (half a query makes no sense).
type valueTicks struct {
	integer bool
	format  func(value float64, label string) string
}

// Ticks implements plot.Ticker.
func (t valueTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	out := make([]plot.Tick, 0, len(ticks))
	for _, tk := range ticks {
		// Minor ticks only add clutter next to the grid lines.
		if tk.Label == "" || t.integer && tk.Value != math.Trunc(tk.Value) {
			continue
		}
		tk.Label = t.format(tk.Value, tk.Label)
		out = append(out, tk)
	}
	return out
}

// heatChart draws the average MB scanned per query for each user (rows) and database (columns).
func heatChart(cells []Cell) (chart, error) {
	const title = "Average MB scanned per query, by user and database"
	ch := chart{Title: title, Wide: true}
	var withData []Cell
	for _, c := range cells {
		if c.Queries > 0 {
			withData = append(withData, c)
		}
	}
	if len(withData) == 0 {
		ch.Caption = "Each cell is one user's average data scanned per query in one database."
		svg, err := noData(title)
		ch.SVG = svg
		return ch, err
	}

	users, userOf := rank(withData, func(c Cell) string { return c.User }, MaxChartRows, "users")
	dbs, dbOf := rank(withData, func(c Cell) string { return c.Database }, maxHeatColumns, "databases")
	h := newHeatGrid(withData, len(users), len(dbs), userOf, dbOf)
	p, height := heatPlot(h, users, dbs)
	svg, err := toSVG(p, heatWidth, height, title)
	if err != nil {
		return ch, err
	}
	ch.SVG = svg
	ch.Caption = "Each cell is one user's average data scanned per query in one database, in MB; " +
		"darker cells scanned more (log colour scale); n/a: no statistics. Users and databases with the most queries first."
	if len(userOf) > MaxChartRows+1 {
		ch.Caption += fmt.Sprintf(" The other %d users are shown together.", len(userOf)-MaxChartRows)
	}
	if len(dbOf) > maxHeatColumns+1 {
		ch.Caption += fmt.Sprintf(" The other %d databases are shown together.", len(dbOf)-maxHeatColumns)
	}
	ch.Scale = &scale{
		Gradient: template.CSS(fmt.Sprintf("linear-gradient(to right, %s, %s, %s)",
			css(heatStops[0]), css(heatStops[1]), css(heatStops[2]))),
		Low:  "0 MB",
		High: mbLabel(h.max) + " MB",
	}
	return ch, nil
}

// newHeatGrid averages cells into rows users by cols databases, at the rows and columns that
// userOf and dbOf give them, with the first user in the top row.
func newHeatGrid(cells []Cell, rows, cols int, userOf, dbOf map[string]int) *heatGrid {
	type acc struct {
		queries, weight int64
		sum             float64
	}
	grid := make([][]acc, rows)
	for i := range grid {
		grid[i] = make([]acc, cols)
	}
	for _, c := range cells {
		a := &grid[userOf[c.User]][dbOf[c.Database]]
		a.queries += c.Queries
		// Folded cells ("other") average their parts weighted by queries.
		if !math.IsNaN(c.AvgMBScanned) {
			a.sum += c.AvgMBScanned * float64(c.Queries)
			a.weight += c.Queries
		}
	}
	h := &heatGrid{rows: rows, cols: cols}
	h.value = make([][]float64, rows)
	h.state = make([][]cellState, rows)
	for i := range rows {
		r := rows - 1 - i // the busiest user on top
		h.value[r] = make([]float64, cols)
		h.state[r] = make([]cellState, cols)
		for j := range cols {
			a := grid[i][j]
			switch {
			case a.queries == 0:
				h.state[r][j] = cellEmpty
			case a.weight == 0:
				h.state[r][j] = cellNoStats
			default:
				h.value[r][j] = a.sum / float64(a.weight)
				h.max = max(h.max, h.value[r][j])
			}
		}
	}
	return h
}

// heatPlot lays h out with the users as row labels and the databases as column labels, and
// returns the plot and the height it needs.
func heatPlot(h *heatGrid, users, dbs []string) (*plot.Plot, vg.Length) {
	p := newPlot()
	p.Add(h)
	rowNames := labels(users)
	for i, j := 0, len(rowNames)-1; i < j; i, j = i+1, j-1 {
		rowNames[i], rowNames[j] = rowNames[j], rowNames[i]
	}
	colNames := make([]string, len(dbs))
	rotate := false
	for j, d := range dbs {
		colNames[j] = truncate(d, 22)
		rotate = rotate || len(colNames[j]) > 60/len(dbs)
	}
	p.NominalY(rowNames...)
	p.NominalX(colNames...)
	if rotate {
		// Anchored at its top right corner, the label hangs below the axis instead of
		// crossing into the bottom row.
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YTop
	}
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.LineStyle.Width, p.Y.LineStyle.Width = 0, 0

	height := vg.Points(24) + rowHeight*vg.Length(len(users))
	if rotate {
		longest := 0
		for _, s := range colNames {
			longest = max(longest, len([]rune(s)))
		}
		height += vg.Points(float64(longest) * 2.6)
	}
	return p, height
}

// rank orders the distinct names of cells by their total queries (ties by name) and maps every
// name to its row; names past the first n share one "other" row.
func rank(cells []Cell, name func(Cell) string, n int, what string) ([]string, map[string]int) {
	queries := map[string]int64{}
	for _, c := range cells {
		queries[name(c)] += c.Queries
	}
	names := make([]string, 0, len(queries))
	for k := range queries {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if queries[names[i]] != queries[names[j]] {
			return queries[names[i]] > queries[names[j]]
		}
		return names[i] < names[j]
	})
	index := make(map[string]int, len(names))
	for i, k := range names {
		index[k] = min(i, n)
	}
	if len(names) <= n+1 {
		return names, index
	}
	return append(names[:n:n], fmt.Sprintf("other (%d %s)", len(names)-n, what)), index
}

type cellState int

const (
	cellValue cellState = iota
	cellEmpty
	cellNoStats
)

// heatGrid is a plot.Plotter that fills one labelled square per user and database. It stands in
// for gonum's plotter.HeatMap, which maps values linearly onto a palette and has no way to write
// the value in each cell or to tell "no queries" from "no statistics".
type heatGrid struct {
	rows, cols int
	value      [][]float64
	state      [][]cellState
	max        float64
}

// Plot implements plot.Plotter.
func (h *heatGrid) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	gap := vg.Points(1)
	sty := text.Style{Font: font.From(sansFont, 8), XAlign: draw.XCenter, YAlign: draw.YCenter,
		Handler: p.TextHandler}
	for r := 0; r < h.rows; r++ {
		for col := 0; col < h.cols; col++ {
			x0, x1 := trX(float64(col)-0.5)+gap, trX(float64(col)+0.5)-gap
			y0, y1 := trY(float64(r)-0.5)+gap, trY(float64(r)+0.5)-gap
			fill, label := colorEmpty, ""
			sty.Color = colorText
			switch h.state[r][col] {
			case cellNoStats:
				label = "n/a"
			case cellValue:
				t := heatPosition(h.value[r][col], h.max)
				fill, label = heatColor(t), mbLabel(h.value[r][col])
				if t > 0.55 {
					sty.Color = color.White
				}
			}
			c.FillPolygon(fill, []vg.Point{{X: x0, Y: y0}, {X: x0, Y: y1}, {X: x1, Y: y1}, {X: x1, Y: y0}})
			if label != "" {
				c.FillText(sty, vg.Point{X: (x0 + x1) / 2, Y: (y0 + y1) / 2}, label)
			}
		}
	}
}

// DataRange implements plot.DataRanger: one unit per cell, centred on the nominal ticks.
func (h *heatGrid) DataRange() (xmin, xmax, ymin, ymax float64) {
	return -0.5, float64(h.cols) - 0.5, -0.5, float64(h.rows) - 0.5
}

// heatPosition maps MB to [0, 1] on a log scale: per-query scans range from kilobytes to terabytes,
// and a linear scale would paint everything but the largest cell white.
func heatPosition(v, most float64) float64 {
	if most <= 0 || v <= 0 {
		return 0
	}
	return math.Log1p(v) / math.Log1p(most)
}

func heatColor(t float64) color.RGBA {
	t = min(max(t, 0), 1) * float64(len(heatStops)-1)
	i := min(int(t), len(heatStops)-2)
	f := t - float64(i)
	a, b := heatStops[i], heatStops[i+1]
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + (float64(y)-float64(x))*f)) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xff}
}

// mbLabel formats megabytes for a heat map cell: short enough for a narrow cell.
func mbLabel(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 0.1:
		return "<0.1"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return commas(int64(math.Round(v)))
	}
}

// message is a plot.Plotter that writes one line of text in the middle of the canvas.
type message string

// Plot implements plot.Plotter.
func (m message) Plot(c draw.Canvas, p *plot.Plot) {
	sty := text.Style{Font: font.From(sansFont, 12), Color: colorUnknown, XAlign: draw.XCenter,
		YAlign: draw.YCenter, Handler: p.TextHandler}
	c.FillText(sty, c.Center(), string(m))
}

// noData draws an empty chart that says so, rather than an axis with nothing on it.
func noData(title string) (template.HTML, error) {
	p := newPlot()
	p.HideAxes()
	p.Add(message("no data"))
	return toSVG(p, barsWidth, vg.Points(80), title)
}

// toSVG renders p as an SVG element to inline in HTML: without the XML prolog and comment
// vgsvg writes, and with an accessible name.
func toSVG(p *plot.Plot, w, h vg.Length, name string) (_ template.HTML, err error) {
	// gonum panics on some degenerate inputs (empty nominal axes, bad ranges); a report must
	// fail with an error instead of crashing the CLI.
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("draw chart: %v", e)
		}
	}()
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", fmt.Errorf("write svg: %w", err)
	}
	s := b.String()
	i := strings.Index(s, "<svg ")
	if i < 0 {
		return "", fmt.Errorf("write svg: no <svg> element in vgsvg output")
	}
	s = `<svg role="img" aria-label="` + html.EscapeString(name) + `" ` + strings.TrimSpace(s[i+len("<svg "):])
	// vgsvg sizes the SVG in points; the page scales it to the column with CSS instead.
	return template.HTML(s), nil
}
