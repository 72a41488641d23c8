// A Go program without crypto/tls: the Go tap must leave it alone (not a coverage gap).
package main

import "fmt"

func main() { fmt.Println("hello") }
