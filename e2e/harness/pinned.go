package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Several Envoys on one host bind the same listener port (SO_REUSEPORT, on
// by default in Envoy on Linux) and the kernel spreads connections between
// them. To ask one particular Envoy, a client dials until the kernel hands
// it a connection that Envoy accepted, told from /proc: the server end of
// the connection is a socket inode, and one of that Envoy's processes holds
// it as a file descriptor.

// PinnedClient is an HTTP client whose every connection to 127.0.0.1:port
// is accepted by target; connections that land on another Envoy of fleet()
// (every Envoy sharing the port; called on each dial, so the fleet may grow)
// are closed unused. A connection Envoy closes is replaced the same way.
// onPeerClose, if not nil, is called each time Envoy closes (or resets) one
// of the client's connections, as opposed to the client closing it.
func PinnedClient(port int, target *Envoy, fleet func() []*Envoy, onPeerClose func()) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		for range 200 {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			owner, err := ConnOwner(c, fleet())
			if err != nil {
				c.Close()
				return nil, err
			}
			if owner == target {
				if onPeerClose != nil {
					return &peerCloseConn{Conn: c, onPeerClose: onPeerClose}, nil
				}
				return c, nil
			}
			c.Close()
		}
		return nil, fmt.Errorf("no connection to %s accepted by the Envoy with admin port %d in 200 dials", addr, target.AdminPort)
	}
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{Proxy: nil, DialContext: dial, MaxIdleConnsPerHost: 4},
	}
}

// peerCloseConn reports the first read that ends because the peer closed
// or reset the connection (a read after the client's own Close fails with
// net.ErrClosed instead).
type peerCloseConn struct {
	net.Conn
	once        sync.Once
	onPeerClose func()
}

func (c *peerCloseConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.once.Do(c.onPeerClose)
	}
	return n, err
}

// ConnOwner is the Envoy of envoys that accepted the client connection c
// (a TCP connection on loopback). Envoy accepts within milliseconds; it
// waits up to 2 s for that.
func ConnOwner(c net.Conn, envoys []*Envoy) (*Envoy, error) {
	local, remote := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
	deadline := time.Now().Add(2 * time.Second)
	for {
		// The server end: local address = the client's remote and back.
		inode, err := tcpInode(remote, local)
		if err != nil {
			return nil, err
		}
		if inode != "" {
			link := "socket:[" + inode + "]"
			for _, e := range envoys {
				if e.holds(link) {
					return e, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("connection %s -> %s: none of %d Envoys holds its server end (inode %q)", local, remote, len(envoys), inode)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// tcpInode finds the socket inode of the IPv4 TCP socket local -> remote in
// /proc/net/tcp ("" when there is none yet).
func tcpInode(local, remote *net.TCPAddr) (string, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	defer f.Close()
	want := procAddr(local) + " " + procAddr(remote)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 9 && fields[1]+" "+fields[2] == want {
			return fields[9], nil
		}
	}
	return "", sc.Err()
}

// procAddr spells an IPv4 address as /proc/net/tcp does: the 4 bytes as one
// little-endian hex word, then the port in hex.
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
}

// holds reports whether a process of Envoy's process group (the launcher
// and the Envoy it runs) has a file descriptor linking to link.
func (e *Envoy) holds(link string) bool {
	e.pidsOnce.Do(func() { e.pids = groupPids(e.cmd.Process.Pid) })
	for _, pid := range e.pids {
		fds, _ := filepath.Glob("/proc/" + pid + "/fd/*")
		for _, fd := range fds {
			if l, err := os.Readlink(fd); err == nil && l == link {
				return true
			}
		}
	}
	return false
}

// groupPids lists the processes whose process group is pgid.
func groupPids(pgid int) []string {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []string
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			out = append(out, filepath.Base(filepath.Dir(st)))
		}
	}
	return out
}
