// Command nethttp is a conformance subject for the sandbox's sockets: a
// net/http server and client on 127.0.0.1 and [::1], a net.Pipe exchange
// and a Unix-socket echo, all in one process. Its output is the same on
// every run: what was exchanged, never addresses or ports.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "nethttp:", err)
		os.Exit(1)
	}
}

func run() error {
	for _, network := range []string{"tcp4", "tcp6"} {
		host := "127.0.0.1"
		if network == "tcp6" {
			host = "[::1]"
		}
		l, err := net.Listen(network, host+":0")
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello %s over %s, %d bytes of body\n", r.URL.Query().Get("name"), r.Proto, r.ContentLength)
		})
		mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(strings.Repeat("0123456789abcdef", 1<<16)))
		})
		srv := &http.Server{Handler: mux}
		go srv.Serve(l)
		base := "http://" + l.Addr().String()
		resp, err := http.Get(base + "/hello?name=gopher")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s GET: %d %s", network, resp.StatusCode, b)
		resp, err = http.Post(base+"/hello?name=poster", "text/plain", strings.NewReader(strings.Repeat("x", 100000)))
		if err != nil {
			return err
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s POST: %d %s", network, resp.StatusCode, b)
		// Parallel requests on kept-alive connections.
		var wg sync.WaitGroup
		sizes := make([]int, 8)
		for i := range sizes {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r, err := http.Get(base + "/big")
				if err != nil {
					return
				}
				n, _ := io.Copy(io.Discard, r.Body)
				r.Body.Close()
				sizes[i] = int(n)
			}(i)
		}
		wg.Wait()
		fmt.Printf("%s parallel bodies: %v\n", network, sizes)
		srv.Close()
	}

	// net.Pipe: in-memory, but through the runtime's scheduler.
	a, b := net.Pipe()
	go func() {
		w := bufio.NewWriter(a)
		for i := 0; i < 1000; i++ {
			fmt.Fprintf(w, "line %d\n", i)
		}
		w.Flush()
		a.Close()
	}()
	n := 0
	sc := bufio.NewScanner(b)
	for sc.Scan() {
		n++
	}
	fmt.Printf("pipe lines: %d\n", n)

	// A Unix socket echo.
	dir, err := os.MkdirTemp("", "nethttp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "echo.sock")
	ul, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	go func() {
		c, err := ul.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		return err
	}
	msg := strings.Repeat("unix ", 50000)
	go func() {
		io.WriteString(c, msg)
		c.(*net.UnixConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	fmt.Printf("unix echo: %d bytes, same: %v\n", len(got), string(got) == msg)
	ul.Close()
	return nil
}
