package xds

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Debounce is how long the files must be quiet before a reload: an editor's
// save (write a temporary file, rename it over the old one) or a `cp -r`
// is one reload, not several.
const Debounce = 75 * time.Millisecond

// Watch calls reload once the inputs at paths (files, or directories read
// recursively) have changed and then been quiet for debounce, until ctx
// ends. A file is watched through its directory, so a rename over it (how
// editors save) is seen; a directory created under a watched one is
// watched too.
func Watch(ctx context.Context, paths []string, debounce time.Duration, reload func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	files := map[string]bool{} // inputs given as files, by clean path
	dirs := map[string]bool{}  // directories given as inputs, and their subdirectories
	for _, p := range paths {
		p = filepath.Clean(p)
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			files[p] = true
			if err := w.Add(filepath.Dir(p)); err != nil {
				return err
			}
			continue
		}
		if err := addTree(w, p, dirs); err != nil {
			return err
		}
	}
	relevant := func(name string) bool {
		name = filepath.Clean(name)
		return files[name] || dirs[filepath.Dir(name)] || dirs[name]
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !relevant(ev.Name) {
				continue
			}
			if ev.Has(fsnotify.Create) && dirs[filepath.Dir(filepath.Clean(ev.Name))] {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
					_ = addTree(w, ev.Name, dirs)
				}
			}
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflowed queue lost events: reload to be sure.
			_ = err
			timer.Reset(debounce)
		case <-timer.C:
			reload()
		}
	}
}

func addTree(w *fsnotify.Watcher, root string, dirs map[string]bool) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		dirs[filepath.Clean(path)] = true
		return w.Add(path)
	})
}
