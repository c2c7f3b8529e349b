// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// cgo_server: a Go HTTP server with glibc in it (cgo), for the allocator tests
// (tests/e2e/test_alloc_services.py). THREADS goroutines, each locked to an OS thread, malloc
// through C (each thread gets a glibc arena, up to glibc's limit); the Go heap grows too (its
// 64 MiB arenas at 0xc000000000 have a glibc heap's shape and are no glibc arena). Every
// request mallocs and frees through C on whatever thread serves it. Prints "port N" on stdout
// once listening on 127.0.0.1; exits when stdin reaches EOF.
//
// usage: cgo_server [THREADS]   (default 4)
package main

/*
#include <stdlib.h>
#include <string.h>

static void *churn(int n, size_t sz)
{
	void *keep = NULL;

	for (int i = 0; i < n; i++) {
		void *p = malloc(sz);

		memset(p, 1, sz);
		free(keep);
		keep = p;
	}
	return keep;
}
*/
import "C"

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
)

var sink [][]byte

func main() {
	threads := 4
	if len(os.Args) > 1 {
		threads, _ = strconv.Atoi(os.Args[1])
	}
	done := make(chan bool)
	for i := 0; i < threads; i++ {
		go func(i int) {
			runtime.LockOSThread()
			C.churn(C.int(100), C.size_t(1000+i*100))
			done <- true
			select {}
		}(i)
	}
	for i := 0; i < threads; i++ {
		<-done
	}
	for i := 0; i < 2000; i++ {
		sink = append(sink, make([]byte, 10000))
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		C.free(C.churn(C.int(10), C.size_t(5000)))
		fmt.Fprintf(w, "ok\n")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	go func() {
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}()
	http.Serve(ln, nil)
}
