package sqlengine

import (
	"fmt"
	"slices"
	"strings"
)

// ALTER TABLE ADD PARTITION registers partitions in the catalog, as AWS's manual-partition DDL
// for CloudTrail asks ("Create a table for CloudTrail logs in Athena using manual
// partitioning": PARTITIONED BY (region, year, month, day), then one ADD PARTITION per day,
// with the LOCATION of that day's folder). A table with registered partitions and no
// projection reads those and nothing else, as Athena does; one without keeps reading the
// Hive-style col=value/ folders under its location.

// addedPartition is a partition that ALTER TABLE ADD PARTITION registered.
type addedPartition struct {
	Values   []string
	Location string
}

// alterTable runs ALTER TABLE ... ADD [IF NOT EXISTS] PARTITION (col = 'v', ...) [LOCATION
// 's3://...'] ...; p is positioned after ALTER TABLE.
func (e *Engine) alterTable(p *ddlParser, database string) (*Result, error) {
	db, name, err := p.qualifiedName(database)
	if err != nil {
		return nil, err
	}
	if err := p.expect("ADD"); err != nil {
		return nil, userError("only ALTER TABLE ADD PARTITION is supported by the local engine")
	}
	ifNotExists := p.accept("IF", "NOT", "EXISTS")
	t := e.cat.table(db, name)
	if t == nil || e.cat.view(db, name) != nil {
		return nil, userError(fmt.Sprintf("TABLE_NOT_FOUND: Table '%s.%s' does not exist", db, name))
	}
	var added []addedPartition
	for p.accept("PARTITION") {
		a, err := p.partitionSpec(t)
		if err != nil {
			return nil, err
		}
		if p.accept("LOCATION") {
			if a.Location, err = p.str(); err != nil {
				return nil, err
			}
		}
		exists := slices.ContainsFunc(append(slices.Clone(t.Added), added...), func(b addedPartition) bool {
			return slices.Equal(a.Values, b.Values)
		})
		switch {
		case exists && ifNotExists:
			continue
		case exists:
			return nil, userError(fmt.Sprintf("AlreadyExistsException: Partition already exists: %s.%s %v", db, name, a.Values))
		}
		added = append(added, a)
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	if len(added) == 0 && !ifNotExists {
		return nil, p.errorf(p.peek(), "Expecting: 'PARTITION'")
	}
	t.Added = append(t.Added, added...)
	if err := e.cat.save(e.dir); err != nil {
		return nil, err
	}
	return ddlResult("ALTER_TABLE_ADD_PARTITION"), nil
}

// partitionSpec reads (col = 'v', ...), which must name each partition column of t once; the
// location defaults to Hive's col=v/ folders under the table's.
func (p *ddlParser) partitionSpec(t *tableDef) (addedPartition, error) {
	a := addedPartition{Values: make([]string, len(t.Partitions))}
	if err := p.expect("("); err != nil {
		return a, err
	}
	set := make([]bool, len(t.Partitions))
	for {
		col, err := p.ident()
		if err != nil {
			return a, err
		}
		i := slices.IndexFunc(t.Partitions, func(c tableColumn) bool { return c.Name == col })
		if i < 0 || set[i] {
			return a, userError(fmt.Sprintf("%s is not a partition column of %s.%s, or is given twice", col, t.Database, t.Name))
		}
		if err := p.expect("="); err != nil {
			return a, err
		}
		v := p.next()
		if v.Kind != tokString && v.Kind != tokNumber {
			return a, p.errorf(v, "Expecting: a string or a number")
		}
		a.Values[i], set[i] = v.Text, true
		if !p.accept(",") {
			break
		}
	}
	if err := p.expect(")"); err != nil {
		return a, err
	}
	if i := slices.Index(set, false); i >= 0 {
		return a, userError(fmt.Sprintf("partition spec has no value for %s", t.Partitions[i].Name))
	}
	a.Location = strings.TrimSuffix(t.Location, "/") + "/"
	for i, c := range t.Partitions {
		a.Location += c.Name + "=" + a.Values[i] + "/"
	}
	return a, nil
}

// addedPartitions returns the registered partitions of t that some use's filters allow.
func addedPartitions(t *tableDef, uses []use) ([]*partition, error) {
	var out []*partition
	for _, a := range t.Added {
		ok := false
		for _, u := range uses {
			fs := filters(u, t.Partitions)
			allowed := true
			for i, c := range t.Partitions {
				f := fs[c.Name]
				if g := u.pushed[c.Name]; g != nil {
					if f == nil {
						f = g
					} else {
						m := map[string]*filter{c.Name: f}
						addFilter(m, c.Name, g)
						f = m[c.Name]
					}
				}
				allowed = allowed && f.allows(a.Values[i])
			}
			ok = ok || allowed
		}
		if !ok {
			continue
		}
		bucket, prefix, err := splitS3(a.Location)
		if err != nil {
			return nil, err
		}
		out = append(out, &partition{values: a.Values, bucket: bucket, prefix: dirPrefix(prefix)})
	}
	return out, nil
}
