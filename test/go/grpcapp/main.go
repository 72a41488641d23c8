// A gRPC-over-TLS server and client for podtap's Go TLS tap tests, on gRPC's own health service
// (grpc_health_v1 ships generated with golang-google-grpc-dev: no protoc step).
//
//	grpcapp server ADDR       serves grpc.health.v1.Health; service "up" is SERVING, others unknown;
//	                          prints "listening PORT" when ready
//	grpcapp client ADDR SERVICE...   one Check per SERVICE over one connection; prints
//	                          "/grpc.health.v1.Health/Check CODE NAME" per call (0 OK, 5 NotFound...)
package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"time"

	"../testcert"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "server" {
		ln, err := net.Listen("tcp", os.Args[2])
		check(err)
		cert := testcert.SelfSigned()
		s := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
		h := health.NewServer()
		h.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
		healthpb.RegisterHealthServer(s, h)
		fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
		check(s.Serve(ln))
	} else if len(os.Args) >= 4 && os.Args[1] == "client" {
		creds := credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		conn, err := grpc.DialContext(ctx, os.Args[2], grpc.WithTransportCredentials(creds), grpc.WithBlock())
		check(err)
		c := healthpb.NewHealthClient(conn)
		for _, svc := range os.Args[3:] {
			_, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			fmt.Printf("/grpc.health.v1.Health/Check %d %s\n", status.Code(err), status.Code(err))
		}
		conn.Close()
	} else {
		fmt.Fprintln(os.Stderr, "usage: grpcapp server ADDR | client ADDR SERVICE...")
		os.Exit(2)
	}
}
