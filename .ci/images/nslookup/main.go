// Command nslookup stands in for busybox 1.28's nslookup in the test cluster's init-container image: it
// resolves a name through the search list of /etc/resolv.conf, as a pod's own lookups do, and exits 1 only when
// the name has no address. The chart's init containers rely on that (`until nslookup <service>`); newer busybox
// releases exit 1 as soon as one search domain answers NXDOMAIN.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: nslookup NAME")
		os.Exit(2)
	}
	name := os.Args[1]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addresses, err := net.DefaultResolver.LookupHost(ctx, name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nslookup: can't resolve '%s': %v\n", name, err)
		os.Exit(1)
	}
	fmt.Printf("Name:\t%s\n", name)
	for _, address := range addresses {
		fmt.Printf("Address: %s\n", address)
	}
}
