package sqlengine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// catalog is the metastore: databases with their tables and views. It lives in one JSON file
// so that every process that opens the same directory sees the same definitions.
type catalog struct {
	Databases map[string]*dbDef `json:"databases"`
}

// dbDef is a database (a DuckDB schema).
type dbDef struct {
	Name    string
	Comment string               `json:",omitempty"`
	Tables  map[string]*tableDef `json:",omitempty"`
	Views   map[string]*viewDef  `json:",omitempty"`
}

// viewDef is a view and the SQL it was created with.
type viewDef struct {
	Database string
	Name     string
	SQL      string
}

const catalogFile = "catalog.json"

// loadCatalog reads the catalog in dir; the default database is always in it, as in Athena,
// whose Data Catalog has one before anything is created.
func loadCatalog(dir string) (*catalog, error) {
	c := &catalog{Databases: map[string]*dbDef{}}
	b, err := os.ReadFile(filepath.Join(dir, catalogFile))
	if errors.Is(err, fs.ErrNotExist) {
		c.Databases[defaultDatabase] = &dbDef{Name: defaultDatabase}
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("read catalog %s: %w", filepath.Join(dir, catalogFile), err)
	}
	if c.Databases == nil {
		c.Databases = map[string]*dbDef{}
	}
	if c.Databases[defaultDatabase] == nil {
		c.Databases[defaultDatabase] = &dbDef{Name: defaultDatabase}
	}
	return c, nil
}

// save writes the catalog atomically, so a reader in another process never sees half a file.
func (c *catalog) save(dir string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode catalog: %w", err)
	}
	f, err := os.CreateTemp(dir, catalogFile+".*")
	if err != nil {
		return fmt.Errorf("write catalog: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("write catalog: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write catalog: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, catalogFile)); err != nil {
		return fmt.Errorf("write catalog: %w", err)
	}
	return nil
}

func (c *catalog) table(db, name string) *tableDef {
	if d := c.Databases[db]; d != nil {
		return d.Tables[name]
	}
	return nil
}

func (c *catalog) view(db, name string) *viewDef {
	if d := c.Databases[db]; d != nil {
		return d.Views[name]
	}
	return nil
}

func (c *catalog) databaseNames() []string {
	names := make([]string, 0, len(c.Databases))
	for n := range c.Databases {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
