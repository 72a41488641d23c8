// A small HTTPS server and client for podtap's Go TLS tap tests (test/integration/go-tls.test.ts).
//
//	httpsapp server ADDR      serves HTTP/1.1 and HTTP/2 over TLS (self-signed, made at start);
//	                          prints "listening PORT" when ready
//	httpsapp client URL PROTO PATH...   PROTO h1 or h2; one request per PATH (POST when the path
//	                          starts with /post), in order over one connection; prints
//	                          "METHOD PATH STATUS PROTO" per response: the ground truth the test checks
//	httpsapp burst URL N      N GETs of URL/burst/I at once, each on its own HTTP/1.1 connection, then
//	                          exits: a short-lived client (prints "GET /burst/I STATUS" per response)
package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"../testcert"
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func status(path string) int {
	switch {
	case strings.HasPrefix(path, "/missing"):
		return 404
	case strings.HasPrefix(path, "/fail"):
		return 500
	case strings.HasPrefix(path, "/post"):
		return 201
	}
	return 200
}

func server(addr string) {
	ln, err := net.Listen("tcp", addr)
	check(err)
	cfg := &tls.Config{Certificates: []tls.Certificate{testcert.SelfSigned()}, NextProtos: []string{"h2", "http/1.1"}}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(status(r.URL.Path))
			fmt.Fprintf(w, "%s %s %d bytes\n", r.Method, r.URL.Path, len(body))
		}),
		TLSConfig: cfg,
	}
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	check(srv.Serve(tls.NewListener(ln, cfg)))
}

func client(url, proto string, paths []string) {
	tcfg := &tls.Config{InsecureSkipVerify: true}
	tr := &http.Transport{TLSClientConfig: tcfg, MaxConnsPerHost: 1}
	if proto == "h2" {
		tr.ForceAttemptHTTP2 = true
	} else {
		tcfg.NextProtos = []string{"http/1.1"}
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	c := &http.Client{Transport: tr}
	for _, p := range paths {
		method := "GET"
		var body io.Reader
		if strings.HasPrefix(p, "/post") {
			method = "POST"
			body = bytes.NewReader(bytes.Repeat([]byte("x"), 3000))
		}
		req, err := http.NewRequest(method, url+p, body)
		check(err)
		resp, err := c.Do(req)
		check(err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Printf("%s %s %d %s\n", method, p, resp.StatusCode, resp.Proto)
	}
	tr.CloseIdleConnections()
}

func burst(url string, n int) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}, MaxIdleConnsPerHost: n, DisableKeepAlives: true}
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	c := &http.Client{Transport: tr}
	done := make(chan string, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			p := fmt.Sprintf("/burst/%d", i)
			resp, err := c.Get(url + p)
			check(err)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			done <- fmt.Sprintf("GET %s %d", p, resp.StatusCode)
		}(i)
	}
	for i := 0; i < n; i++ {
		fmt.Println(<-done)
	}
}

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "server" {
		server(os.Args[2])
	} else if len(os.Args) == 4 && os.Args[1] == "burst" {
		n, err := strconv.Atoi(os.Args[3])
		check(err)
		burst(os.Args[2], n)
	} else if len(os.Args) >= 4 && os.Args[1] == "client" {
		client(os.Args[2], os.Args[3], os.Args[4:])
	} else {
		fmt.Fprintln(os.Stderr, "usage: httpsapp server ADDR | client URL h1|h2 PATH... | burst URL N")
		os.Exit(2)
	}
}
